package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	usher "github.com/usher-lm/usher"
)

// netLab is a set of network namespaces made for one test: a switch
// namespace with two bridges, the peer network (etcd raft, forwarding
// between nodes) and the API network (the test's clients), and one
// namespace per node with a leg on each. Cutting a node's leg on the peer
// network partitions it from the others while the test can still ask it
// for seats.
type netLab struct {
	t      *testing.T
	prefix string
}

// newNetLab makes the switch namespace, or skips the test when this
// machine cannot (not root, no ip command); USHER_REQUIRE_NETNS=1 makes
// that a failure instead.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	lab := &netLab{t: t, prefix: fmt.Sprintf("ush%d", os.Getpid()%100000)}
	if err := lab.try("netns", "add", lab.ns("sw")); err != nil {
		if os.Getenv("USHER_REQUIRE_NETNS") == "1" {
			t.Fatalf("network namespaces are required (USHER_REQUIRE_NETNS=1): %v", err)
		}
		t.Skipf("network namespaces are not available here (run as root with iproute2): %v", err)
	}
	t.Cleanup(lab.close)
	sw := lab.ns("sw")
	lab.ip("-n", sw, "link", "set", "lo", "up")
	for _, br := range []string{"brp", "bra"} {
		lab.ip("-n", sw, "link", "add", br, "type", "bridge")
		lab.ip("-n", sw, "link", "set", br, "up")
	}
	lab.ip("-n", sw, "addr", "add", "10.77.2.100/24", "dev", "bra")
	return lab
}

func (l *netLab) ns(name string) string { return l.prefix + name }

func (l *netLab) try(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if err := l.try(args...); err != nil {
		l.t.Fatal(err)
	}
}

// addHost makes node i's namespace: 10.77.1.i on the peer network and
// 10.77.2.i on the API network.
func (l *netLab) addHost(i int) string {
	l.t.Helper()
	ns, sw := l.ns(fmt.Sprint("n", i)), l.ns("sw")
	l.ip("netns", "add", ns)
	l.ip("-n", ns, "link", "set", "lo", "up")
	for _, leg := range []struct{ name, bridge, dev, net string }{
		{fmt.Sprint("p", i), "brp", "eth0", "10.77.1."},
		{fmt.Sprint("a", i), "bra", "eth1", "10.77.2."},
	} {
		l.ip("-n", sw, "link", "add", leg.name, "type", "veth", "peer", "name", leg.dev, "netns", ns)
		l.ip("-n", sw, "link", "set", leg.name, "master", leg.bridge, "up")
		l.ip("-n", ns, "addr", "add", fmt.Sprint(leg.net, i, "/24"), "dev", leg.dev)
		l.ip("-n", ns, "link", "set", leg.dev, "up")
	}
	return ns
}

// cut takes node i off the peer network, or puts it back.
func (l *netLab) cut(i int, off bool) {
	l.t.Helper()
	state := "up"
	if off {
		state = "down"
	}
	l.ip("-n", l.ns("sw"), "link", "set", fmt.Sprint("p", i), state)
}

// close deletes the namespaces, and with them their links.
func (l *netLab) close() {
	for _, name := range []string{"n1", "n2", "n3", "sw"} {
		_ = l.try("netns", "del", l.ns(name))
	}
}

// httpClient returns a client whose connections start in the switch
// namespace, on the API network.
func (l *netLab) httpClient() *http.Client {
	path := "/run/netns/" + l.ns("sw")
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The socket is made in the namespace of the thread that makes
			// it. The thread stays locked: it ends with this goroutine
			// rather than going back to the runtime in another namespace.
			runtime.LockOSThread()
			f, err := os.Open(path)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("enter %s: %w", path, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// TestClusterPartition cuts the deciding node off the other two with
// network namespaces: the majority elects another decider and goes on
// granting seats, the node cut off grants none, no seat is over-allocated
// and no acknowledged lease is lost; healed, the node serves again.
func TestClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes in network namespaces")
	}
	lab := newNetLab(t)
	const seats = 5
	_, pub, lic := vendorFixture(t, fmt.Sprintf("cad=%d", seats))
	c := &procCluster{t: t, pub: pub, lic: lic}
	var peers []string
	for i := 1; i <= 3; i++ {
		peers = append(peers, fmt.Sprintf("n%d=http://10.77.1.%d:7421", i, i))
	}
	for i := 1; i <= 3; i++ {
		ns := lab.addHost(i)
		n := &procNode{name: fmt.Sprint("n", i), data: t.TempDir(), api: fmt.Sprintf("http://10.77.2.%d:7420", i),
			wrap: []string{"ip", "netns", "exec", ns}, http: lab.httpClient()}
		n.args = []string{"--data", n.data, "--vendor-key", pub, "--cluster-name", "part", "--node-name", n.name,
			"--listen", fmt.Sprintf("10.77.1.%d:7420", i), "--listen", fmt.Sprintf("10.77.2.%d:7420", i),
			"--advertise", fmt.Sprintf("http://10.77.1.%d:7420", i),
			"--peer-listen", fmt.Sprintf("10.77.1.%d:7421", i), "--etcd-client-listen", fmt.Sprintf("10.77.1.%d:7422", i),
			"--peers", strings.Join(peers, ",")}
		c.nodes = append(c.nodes, n)
	}
	dec := c.startLicensed()
	ctx := context.Background()
	acked := map[string]bool{}
	for i := range 3 {
		id, err := procCheckout(ctx, c.client(i), fmt.Sprint("before-", i))
		if err != nil {
			t.Fatalf("checkout through node %d: %v", i, err)
		}
		acked[id] = true
	}

	lab.cut(dec+1, true)
	cutAt := time.Now()
	t.Logf("cut %s, which decided, off the peer network", c.nodes[dec].name)
	other := (dec + 1) % 3
	// The majority goes on: it grants the remaining seats, and no more.
	for k := range seats - 3 {
		var id string
		err := retryUnavailable(30*time.Second, func() (err error) {
			id, err = procCheckout(ctx, c.client(other), fmt.Sprint("majority-", k))
			return err
		})
		if err != nil {
			t.Fatalf("checkout through node %d of the majority: %v", other, err)
		}
		acked[id] = true
		if k == 0 {
			t.Logf("the majority granted a seat %v after the cut", time.Since(cutAt).Round(time.Millisecond))
		}
	}
	if _, err := procCheckout(ctx, c.client((dec+2)%3), "one-too-many"); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("checkout beyond %d seats through the majority: got %v, want %s", seats, err, usher.ENoSeats)
	}
	// The node cut off grants nothing, whatever it is asked.
	cutOff := c.clientWithin(dec, time.Second)
	for k := range 5 {
		if id, err := procCheckout(ctx, cutOff, fmt.Sprint("minority-", k)); err == nil {
			t.Fatalf("the node cut off granted lease %s", id)
		}
	}

	lab.cut(dec+1, false)
	var leases []usher.Lease
	err := retryUnavailable(20*time.Second, func() (err error) {
		leases, err = c.client(dec).Leases(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("leases through the healed node: %v", err)
	}
	if len(leases) != len(acked) {
		t.Errorf("after healing: %d leases, want the %d acknowledged", len(leases), len(acked))
	}
	for _, l := range leases {
		if !acked[l.ID] {
			t.Errorf("lease %s was never acknowledged", l.ID)
		}
	}
	for _, l := range leases {
		err := retryUnavailable(10*time.Second, func() error { return c.client(dec).Release(ctx, l.ID) })
		if err != nil {
			t.Fatalf("release through the healed node: %v", err)
		}
	}
	if _, err := procCheckout(ctx, c.client(dec), "after-healing"); err != nil {
		t.Fatalf("checkout through the healed node: %v", err)
	}
}
