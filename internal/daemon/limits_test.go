package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/wire"
)

// The per-address limits of the configuration reach the ledger: an
// anonymous client past max_leases_per_address gets 429 too_many_leases,
// and the admin is not counted.
func TestMaxLeasesPerAddress(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	if err := cfg.Set("max_leases_per_address", "2"); err != nil {
		t.Fatal(err)
	}
	d, admin := MustStart(t, cfg, daemon.Options{})
	anon := apiclient.MustNew(d.URL(), "")
	defer anon.Close()
	ctx := context.Background()
	checkout := func(c *apiclient.Client, id string) error {
		_, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id}})
		return err
	}
	for i := range 2 {
		if err := checkout(anon, fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	err := checkout(anon, "c2")
	if got := usher.ErrorCode(err); got != usher.ETooManyLeases {
		t.Fatalf("third lease from one address: got %v (code %q), want %s", err, got, usher.ETooManyLeases)
	}
	if got := wire.StatusOf(usher.ErrorCode(err)); got != http.StatusTooManyRequests {
		t.Fatalf("got status %d, want 429", got)
	}
	if err := checkout(admin, "by-admin"); err != nil {
		t.Fatalf("the admin's checkout: %v", err)
	}
}
