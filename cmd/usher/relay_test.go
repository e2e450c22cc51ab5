package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestRelayKillNineGivesItsBlocksBackThroughTheUpstreamKeepalive runs a
// master and a relay of it as processes: once the relay is killed -9,
// the seats its local leases held come back at the master after the
// master's keep-alive, for anyone.
func TestRelayKillNineGivesItsBlocksBackThroughTheUpstreamKeepalive(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=3")
	data := filepath.Join(dir, "data")
	master := startServerProc(t, "--data", data, "--vendor-key", pub, "--keepalive-timeout", "2s", "--keepalive-scan-interval", "100ms")
	mustCLI(t, func(k string) string { return map[string]string{"USHER_SERVER": master.url}[k] }, "license", "add", lic, "--data", data)
	relay := startServerProc(t, "--data", filepath.Join(dir, "relay"), "--upstream", master.url)

	ctx := context.Background()
	local := apiclient.MustNew(relay.url, "")
	defer local.Close()
	for i := range 2 {
		if _, _, err := local.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("app-", i)}}); err != nil {
			t.Fatalf("checkout at the relay: %v", err)
		}
	}
	direct := apiclient.MustNew(master.url, "")
	defer direct.Close()
	if inUse := seatsInUse(t, direct); inUse != 2 {
		t.Fatalf("master: %d seats in use through the relay, want 2", inUse)
	}

	relay.kill9(t)
	if inUse := seatsInUse(t, direct); inUse != 2 {
		t.Fatalf("master right after the relay's kill: %d seats in use, want its blocks still held (2)", inUse)
	}
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := seatsInUse(t, direct); n != 0 {
			return fmt.Errorf("master: %d seats still held by the killed relay", n)
		}
		return nil
	})
	for i := range 3 {
		if _, _, err := direct.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("direct-", i)}}); err != nil {
			t.Fatalf("checkout at the master after the relay's blocks came back: %v", err)
		}
	}
}

func seatsInUse(t *testing.T, c *apiclient.Client) int {
	t.Helper()
	fs, err := c.Features(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == "cad" {
			return f.InUse
		}
	}
	return 0
}
