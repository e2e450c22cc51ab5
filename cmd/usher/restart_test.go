package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// TestRestartReexecsWithLeases restarts a real server process through the
// API: the same process id runs the program again, which listens anew
// (on another port, as it was given port 0), keeps the leases, the
// licenses and a ban, and its clients carry on.
func TestRestartReexecsWithLeases(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=4")
	data := filepath.Join(dir, "data")
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(url string) func(string) string {
		return func(k string) string { return map[string]string{"USHER_SERVER": url}[k] }
	}
	mustCLI(t, env(p.url), "license", "add", lic, "--data", data)
	ctx := context.Background()
	c := apiclient.MustNew(p.url, "")
	lease, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1", User: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, env(p.url), "kick", "--user", "mallory", "--ban", "1h", "--data", data)
	pid := p.cmd.Process.Pid

	if out := mustCLI(t, env(p.url), "restart", "--data", data); !strings.Contains(out, "restarting") {
		t.Fatalf("restart: %q", out)
	}
	var url string
	select {
	case a := <-p.addrs:
		url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not listen again within 30s")
	}
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the server process %d is gone after the restart: %v", pid, err)
	}
	c = apiclient.MustNew(url, "")
	if _, err := c.Heartbeat(ctx, lease.ID); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	out := mustCLI(t, env(url), "leases", "--data", data)
	if !strings.Contains(out, lease.ID) {
		t.Fatalf("leases after restart: %q, want %s", out, lease.ID)
	}
	_, _, err = c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c2", User: "mallory"}})
	if usher.ErrorCode(err) != usher.EBanned {
		t.Fatalf("checkout by a banned user after restart: got %v, want %s", err, usher.EBanned)
	}
	if out := mustCLI(t, env(url), "events", "--type", "server_started", "--data", data); strings.Count(out, "server_started") != 2 {
		t.Fatalf("events: %q, want two server starts", out)
	}
}
