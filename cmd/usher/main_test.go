package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
	"go.uber.org/goleak"
)

// TestMain lets the test binary act as the usher binary, so that tests can
// run a real server process and kill it. Run as tests, it fails when a
// server or a command run in process leaves a goroutine behind.
func TestMain(m *testing.M) {
	if os.Getenv("USHER_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// runCLI runs the CLI in process and returns its exit code and output.
func runCLI(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	code := run(context.Background(), args, &env{stdout: &out, stderr: &errOut, getenv: getenv})
	return code, out.String(), errOut.String()
}

func mustCLI(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, getenv, args...)
	if code != 0 {
		t.Fatalf("usher %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// serverProc is a usher server running as a child process.
type serverProc struct {
	cmd   *exec.Cmd
	url   string
	addrs chan string // the addresses it listens on later, after a restart
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func startServerProc(t *testing.T, args ...string) *serverProc {
	t.Helper()
	// Discovery off: a test that kills a server with -9 must not wait for
	// its announcements to age out (docs/discovery.md); discover_linux_test
	// runs it in namespaces of its own.
	cmd := exec.Command(os.Args[0], append([]string{"server", "--listen", "127.0.0.1:0", "--discovery=false"}, args...)...)
	cmd.Env = append(os.Environ(), "USHER_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &serverProc{cmd: cmd, url: "http://" + a, addrs: addr}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start listening")
		return nil
	}
}

func (p *serverProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// vendorFixture writes a vendor key pair and a license with the given
// features, through the CLI.
func vendorFixture(t *testing.T, features ...string) (dir, pub, lic string) {
	t.Helper()
	dir = t.TempDir()
	mustCLI(t, nil, "vendor", "keygen", "--out", filepath.Join(dir, "keys"))
	lic = filepath.Join(dir, "acme.lic")
	args := []string{"vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp", "--out", lic}
	for _, f := range features {
		args = append(args, "--feature", f)
	}
	mustCLI(t, nil, args...)
	return dir, filepath.Join(dir, "keys", "vendor.pub"), lic
}

func TestKillNineKeepsAcknowledgedLeases(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=8")
	data := filepath.Join(dir, "data")
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string {
		return map[string]string{"USHER_SERVER": p.url}[k]
	}
	mustCLI(t, env, "license", "add", lic, "--data", data)

	// 16 clients race for 8 seats while the server is killed mid-way.
	c := apiclient.MustNew(p.url, "")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= 4 {
				time.Sleep(time.Duration(i) * time.Millisecond) // spread arrivals around the kill
			}
			l, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("client-", i)}})
			if err == nil {
				mu.Lock()
				acked = append(acked, l.ID)
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.kill9(t)
	wg.Wait()
	c.Close()
	if len(acked) < 4 {
		t.Fatalf("only %d checkouts acknowledged before the kill", len(acked))
	}

	p = startServerProc(t, "--data", data, "--vendor-key", pub)
	c = apiclient.MustNew(p.url, strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token"))))
	defer c.Close()
	leases, err := c.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range leases {
		have[l.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged lease %s lost in the crash", id)
		}
	}
	if len(leases) > 8 {
		t.Fatalf("%d leases after restart for 8 seats", len(leases))
	}
	granted := 0
	for i := range 16 {
		if _, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("after-", i)}}); err == nil {
			granted++
		}
	}
	if len(leases)+granted != 8 {
		t.Fatalf("%d leases survived and %d more were granted: want 8 in all", len(leases), granted)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCLITour(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=5", "viewer=unlimited", "sim=2,expires=2099-06-30")
	if fi, err := os.Stat(filepath.Join(dir, "keys", "vendor.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vendor.key mode: %v %v, want 0600", fi.Mode(), err)
	}
	if !strings.Contains(readFile(t, lic), "feature: sim seats=2 expires=2099-06-30T23:59:59Z") {
		t.Fatalf("license file lacks the sim line:\n%s", readFile(t, lic))
	}
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.Listen, cfg.VendorKey = filepath.Join(dir, "data"), []string{"127.0.0.1:0"}, []string{pub}
	d := ushertest.StartDaemon(t, cfg, daemon.Options{})
	if fi, err := os.Stat(d.TokenPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode: %v %v, want 0600", fi.Mode(), err)
	}
	env := func(k string) string { return map[string]string{"USHER_SERVER": d.URL()}[k] }
	data := "--data=" + cfg.Data

	if out := mustCLI(t, env, "license", "add", lic, data); !strings.Contains(out, "added license lic_") {
		t.Fatalf("license add printed %q", out)
	}
	code, _, errOut := runCLI(t, env, "license", "add", lic, data)
	if code == 0 || !strings.Contains(errOut, "license_exists") {
		t.Fatalf("adding twice: exit %d, %q", code, errOut)
	}
	out := mustCLI(t, env, "status")
	if !regexp.MustCompile(`cad\s+5\s+0\s+5`).MatchString(out) || !strings.Contains(out, "unlimited") {
		t.Fatalf("status:\n%s", out)
	}
	c := apiclient.MustNew(d.URL(), "")
	defer c.Close()
	l, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "x", User: "alice", Host: "ws12", PID: 42}})
	if err != nil {
		t.Fatal(err)
	}
	var leases struct{ Leases []usher.Lease }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "leases", "--json", data)), &leases); err != nil || len(leases.Leases) != 1 || leases.Leases[0].Client.User != "alice" {
		t.Fatalf("leases --json: %+v %v", leases, err)
	}
	if out := mustCLI(t, env, "leases", data); !strings.Contains(out, l.ID) || !strings.Contains(out, "ws12") {
		t.Fatalf("leases:\n%s", out)
	}
	mustCLI(t, env, "kick", l.ID, data)
	var status struct{ Features []usher.FeatureStatus }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "status", "--json")), &status); err != nil || status.Features[0].InUse != 0 {
		t.Fatalf("status --json after kick: %+v %v", status, err)
	}
	var list struct{ Licenses []wire.LicenseResponse }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "license", "list", "--json", data)), &list); err != nil || len(list.Licenses) != 1 {
		t.Fatalf("license list --json: %+v %v", list, err)
	}
	mustCLI(t, env, "license", "remove", list.Licenses[0].ID, data)
	if code, _, errOut := runCLI(t, env, "leases"); code == 0 || !strings.Contains(errOut, "unauthorized") {
		t.Fatalf("leases without a token: exit %d %q", code, errOut)
	}
}

func TestTamperedLicenseFileIsNamed(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=5")
	bad := filepath.Join(dir, "bad.lic")
	os.WriteFile(bad, bytes.Replace([]byte(readFile(t, lic)), []byte("seats=5"), []byte("seats=6"), 1), 0o644)
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.Listen, cfg.VendorKey = filepath.Join(dir, "data"), []string{"127.0.0.1:0"}, []string{pub}
	d := ushertest.StartDaemon(t, cfg, daemon.Options{})
	code, _, errOut := runCLI(t, nil, "license", "add", bad, "--server", d.URL(), "--data", cfg.Data)
	if code != 1 || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "signature does not match") {
		t.Fatalf("exit %d, stderr %q: want the file named and a signature mismatch", code, errOut)
	}
}

// TestServerConfigPrecedence: file < environment < flags.
func TestServerConfigPrecedence(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	file := filepath.Join(dir, "usher.toml")
	os.WriteFile(file, []byte(fmt.Sprintf("data = %q\nvendor_key = [%q]\nkeepalive_timeout = \"100s\"\nconnection_timeout = \"40s\"\nlisten = [\"127.0.0.1:1\"]\n", dir, pub)), 0o644)
	getenv := func(k string) string {
		return map[string]string{"USHER_KEEPALIVE_TIMEOUT": "300s", "USHER_CONNECTION_TIMEOUT": "50s"}[k]
	}
	var errOut bytes.Buffer
	cfg, err := loadServerConfig(&env{stderr: &errOut, getenv: getenv}, "server",
		[]string{"--config", file, "--keepalive-timeout", "200s", "--listen", "127.0.0.1:2", "--listen", "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(cfg.KeepaliveTimeout); got != 200*time.Second {
		t.Errorf("keepalive %s, want the flag's 200s over the environment's and the file's", got)
	}
	if got := time.Duration(cfg.ConnectionTimeout); got != 50*time.Second {
		t.Errorf("connection timeout %s, want the environment's 50s over the file's 40s", got)
	}
	if cfg.Listen.String() != "127.0.0.1:2,127.0.0.1:3" {
		t.Errorf("listen %v, want the flags' two addresses", cfg.Listen)
	}
	if got := time.Duration(cfg.KeepaliveScanInterval); got != 3*time.Second {
		t.Errorf("scan interval %s, want the default 3s", got)
	}
}
