package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery/lan"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// discoveryLab is a LAN of network namespaces for discovery: n1 and n2
// have IPv4 and IPv6 on both networks, n3 has IPv6 only. Broadcasts and
// multicasts stay inside it.
type discoveryLab struct {
	*netLab
	pub string // vendor public key
	dir string
}

func newDiscoveryLab(t *testing.T) *discoveryLab {
	lab := &discoveryLab{netLab: newNetLab(t)}
	for _, br := range []string{"brp", "bra"} {
		// Flood multicast to every port: no MLD querier runs here.
		lab.ip("-n", lab.ns("sw"), "link", "set", br, "type", "bridge", "mcast_snooping", "0")
	}
	for i := 1; i <= 3; i++ {
		ns := lab.addHost(i)
		for j, dev := range []string{"eth0", "eth1"} {
			if i == 3 {
				lab.ip("-n", ns, "-4", "addr", "flush", "dev", dev)
			}
			lab.ip("-n", ns, "addr", "add", fmt.Sprintf("fd77:%d::%d/64", j+1, i), "dev", dev, "nodad")
		}
		if i != 3 {
			// mDNS sends to 224.0.0.251 along the default route.
			lab.ip("-n", ns, "route", "add", "default", "dev", "eth1")
		}
	}
	lab.dir, lab.pub, _ = vendorFixture(t, "cad=1")
	return lab
}

// exec runs the usher command in namespace n<i> and returns its output.
func (l *discoveryLab) usher(i int, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(fmt.Sprint("n", i)), os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "USHER_TEST_AS_MAIN=1")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return string(out), err
}

// server describes a server on every address of n<i>, announcing every
// second, with identity lock files of its own (the namespaces share the
// file system, and the test is about the LAN).
func (l *discoveryLab) server(i int, data string) *procNode {
	return &procNode{name: fmt.Sprint("n", i), data: data, api: fmt.Sprintf("http://10.77.2.%d:7420", i),
		wrap: []string{"ip", "netns", "exec", l.ns(fmt.Sprint("n", i))}, http: l.httpClient(),
		args: []string{"--data", data, "--vendor-key", l.pub, "--listen", ":7420", "--announce-interval", "1s",
			"--identity-lock-dir", l.t.TempDir()}}
}

// discover runs usher discover --json in n<i>.
func (l *discoveryLab) discover(i int) []lan.Server {
	l.t.Helper()
	out, err := l.usher(i, "discover", "--json", "--timeout", "2s", "--no-mdns")
	if err != nil {
		l.t.Fatalf("usher discover in n%d: %v", i, err)
	}
	var found []lan.Server
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		l.t.Fatalf("usher discover --json: %v:\n%s", err, out)
	}
	return found
}

// TestDiscoveryOnTheLAN starts a server in one namespace and finds it from
// the others, over IPv4 broadcast and over IPv6 multicast alone; an
// application with USHER_SERVER= finds it and holds a seat.
func TestDiscoveryOnTheLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers in network namespaces")
	}
	lab := newDiscoveryLab(t)
	data := filepath.Join(lab.dir, "data")
	guid, lic := boundLicense(t, lab.dir, data)
	c := &procCluster{t: t, nodes: []*procNode{lab.server(1, data)}}
	startProcCluster(t, c)
	if _, err := c.client(0).AddLicense(context.Background(), mustRead(t, lic)); err != nil {
		t.Fatal(err)
	}

	found := lab.discover(2)
	if len(found) != 1 || found[0].GUID != guid || !slices.Equal(found[0].Features, []string{"cad"}) ||
		!slices.Contains(found[0].URLs, "http://10.77.2.1:7420") || !slices.Contains(found[0].URLs, "http://10.77.1.1:7420") {
		t.Fatalf("from n2 (IPv4 and IPv6): found %+v, want %s serving cad at http://10.77.1.1:7420 and http://10.77.2.1:7420", found, guid)
	}
	found = lab.discover(3)
	if len(found) != 1 || found[0].GUID != guid || !strings.Contains(strings.Join(found[0].URLs, " "), "[fe80::") {
		t.Fatalf("from n3 (IPv6 only): found %+v, want %s at its link-local addresses", found, guid)
	}
	out, err := lab.usher(2, "discover", "--timeout", "1s", "--no-mdns")
	if err != nil || !strings.Contains(out, guid) || !strings.Contains(out, "cad") {
		t.Errorf("usher discover in n2: %v\n%s", err, out)
	}

	t.Run("over mDNS alone", func(t *testing.T) {
		// No server answers UDP discovery on port 9: what is found came
		// from the mDNS browse for _usher._tcp.
		out, err := lab.usher(2, "discover", "--json", "--timeout", "2s", "--port", "9")
		var found []lan.Server
		if err == nil {
			err = json.Unmarshal([]byte(out), &found)
		}
		if err != nil || len(found) != 1 || found[0].GUID != guid || found[0].From != "mdns" || !slices.Contains(found[0].URLs, "http://10.77.2.1:7420") {
			t.Fatalf("usher discover over mDNS: %v\n%s\nwant %s from mdns at http://10.77.2.1:7420", err, out, guid)
		}
	})

	t.Run("seatholder with USHER_SERVER= finds the server", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "seatholder")
		if out, err := exec.Command("go", "build", "-o", bin, "../../examples/seatholder").CombinedOutput(); err != nil {
			t.Fatalf("build seatholder: %v\n%s", err, out)
		}
		for _, host := range []int{2, 3} {
			cache := t.TempDir()
			cmd := exec.Command("ip", "netns", "exec", lab.ns(fmt.Sprint("n", host)), bin, "-feature", "cad")
			cmd.Env = append(os.Environ(), "USHER_SERVER=", "XDG_CACHE_HOME="+cache, "HOME="+cache)
			if err := holdsSeat(t, cmd); err != nil {
				t.Fatalf("seatholder in n%d: %v", host, err)
			}
			if b, err := os.ReadFile(filepath.Join(cache, "usher", "last-server.json")); err != nil || !strings.Contains(string(b), ":7420") {
				t.Errorf("seatholder in n%d remembered %q (%v), want the server's URL", host, b, err)
			}
		}
	})

	// Last: the relay's block holds the license's one seat until the
	// master's keep-alive gives it back.
	t.Run("a relay with --upstream auto finds it", func(t *testing.T) {
		ctx := context.Background()
		data := filepath.Join(t.TempDir(), "relay")
		relay := &procCluster{t: t, nodes: []*procNode{{name: "relay in n2", data: data, api: "http://10.77.2.2:7430",
			wrap: []string{"ip", "netns", "exec", lab.ns("n2")}, http: lab.httpClient(),
			args: []string{"--data", data, "--listen", ":7430", "--upstream", "auto", "--discovery=false", "--identity-lock-dir", t.TempDir()}}}}
		startProcCluster(t, relay)
		lr, _, err := relay.client(0).Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "app-1", Host: "n2"}})
		if err != nil {
			t.Fatalf("checkout through the relay: %v\n%s", err, relay.nodes[0].log())
		}
		fs, err := c.client(0).Features(ctx)
		if err != nil || len(fs) != 1 || fs[0].InUse != 1 {
			t.Fatalf("the master's features: %+v, %v; want the relay's block holding cad's seat", fs, err)
		}
		if err := relay.client(0).Release(ctx, lr.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// holdsSeat starts cmd, waits until it says it holds a seat, and stops it
// with SIGINT.
func holdsSeat(t *testing.T, cmd *exec.Cmd) error {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGINT)
	held := make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "holding the seat") {
				held <- ""
			}
		}
		held <- log.String()
	}()
	select {
	case log := <-held:
		if log != "" {
			return fmt.Errorf("exited without a seat:\n%s", log)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("no seat within 30s")
	}
}

// boundLicense issues a cad=1 license bound to the identity of the server
// whose data directory is data, and returns that server's GUID and the
// license file.
func boundLicense(t *testing.T, dir, data string) (guid, lic string) {
	t.Helper()
	key := strings.TrimSpace(strings.Split(strings.Split(mustCLI(t, nil, "server", "fingerprint", "--data", data), "\n")[0], ":")[1])
	lic = filepath.Join(dir, "bound.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp",
		"--feature", "cad=1", "--bind-server", key, "--out", lic)
	return usher.ServerGUID(mustServerKey(t, key)), lic
}

// TestDuplicateIdentityOnTheLAN runs a copy of a server's data directory
// on another host of the LAN: the copy stops serving the bound license
// within an announcement period, the first goes on, and the copy serves
// again once the first stops.
func TestDuplicateIdentityOnTheLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers in network namespaces")
	}
	lab := newDiscoveryLab(t)
	data, copied := filepath.Join(lab.dir, "data"), filepath.Join(lab.dir, "copy")
	_, lic := boundLicense(t, lab.dir, data)
	c := &procCluster{t: t, nodes: []*procNode{lab.server(1, data)}}
	startProcCluster(t, c)
	ctx := context.Background()
	if _, err := c.client(0).AddLicense(ctx, mustRead(t, lic)); err != nil {
		t.Fatal(err)
	}
	copyTree(t, data, copied)
	c.nodes = append(c.nodes, lab.server(2, copied))
	if err := c.start(1); err != nil {
		t.Fatal(err)
	}
	attempt := 0
	ushertest.WaitFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		attempt++ // a new client each time: a client that got a seat before would keep it
		if _, err := procCheckout(ctx, c.client(1), fmt.Sprint("on-copy-", attempt)); usher.ErrorCode(err) != usher.ELicenseInUseElsewhere {
			return fmt.Errorf("checkout on the copy: %v, want %s", err, usher.ELicenseInUseElsewhere)
		}
		return nil
	})
	if _, err := procCheckout(ctx, c.client(0), "on-first"); err != nil {
		t.Fatalf("checkout on the first server: %v", err)
	}
	if log := c.nodes[1].log(); !strings.Contains(log, "announces itself on the LAN") {
		t.Errorf("the copy's log does not say why it stopped serving:\n%s", log)
	}

	c.nodes[0].cmd.Process.Signal(syscall.SIGTERM) // a graceful stop announces itself
	<-c.nodes[0].exited
	ushertest.WaitFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		// Served again: a seat, or none free if the copy granted its one
		// seat before it heard the first server.
		_, err := procCheckout(ctx, c.client(1), "after-first-stopped")
		if err != nil && usher.ErrorCode(err) != usher.ENoSeats {
			return err
		}
		return nil
	})
}

// TestDiscoverWatch prints a server's signed announcements as they come.
func TestDiscoverWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers in network namespaces")
	}
	lab := newDiscoveryLab(t)
	c := &procCluster{t: t, nodes: []*procNode{lab.server(1, filepath.Join(lab.dir, "data"))}}
	startProcCluster(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lab.ns("n3"), os.Args[0], "discover", "--watch", "--json")
	cmd.Env = append(os.Environ(), "USHER_TEST_AS_MAIN=1")
	out, _ := cmd.Output() // ends with the context
	var alive int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var h struct {
			lan.Announcement
			Verified bool `json:"verified"`
		}
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if h.Event == lan.EventAlive && h.Verified && h.Name != "" {
			alive++
		}
	}
	if alive < 1 {
		t.Errorf("usher discover --watch in n3 printed no verified periodic announcement in 2.5s:\n%s", out)
	}
}
