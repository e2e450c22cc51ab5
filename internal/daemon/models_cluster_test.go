package daemon_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestBorrowedSeatSurvivesFailover borrows a seat, kills the deciding
// node, and checks that the next decider still counts the borrowed seat,
// with its end, and frees it when the borrower returns it.
func TestBorrowedSeatSurvivesFailover(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	text := ushertest.Sign(t, c.Vendor, usher.Grant{Feature: "cad", Seats: 2, Borrow: 7 * 24 * time.Hour})
	if err := ushertest.RetryUnavailable(10*time.Second, func() error {
		_, err := c.Client(dec).AddLicense(ctx, text)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var lent wire.LeaseResponse
	if err := ushertest.RetryUnavailable(10*time.Second, func() (err error) {
		lent, _, err = c.Client(dec).Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "laptop"}, Borrow: "72h"})
		return err
	}); err != nil || lent.BorrowToken == "" {
		t.Fatalf("borrow: %+v, %v, want a borrowed lease with a token", lent, err)
	}
	c.Kill(dec)
	other := (dec + 1) % len(c.Configs)
	var leases []usher.Lease
	if err := ushertest.RetryUnavailable(15*time.Second, func() (err error) {
		leases, err = c.ClientWithin(other, 3*time.Second).Leases(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || leases[0].ID != lent.ID || !leases[0].BorrowedUntil.Equal(lent.BorrowedUntil) {
		t.Fatalf("after failover: got %+v, want lease %s borrowed until %v", leases, lent.ID, lent.BorrowedUntil)
	}
	if err := c.ClientWithin(other, 3*time.Second).Release(ctx, lent.ID); err != nil {
		t.Fatalf("return after failover: %v", err)
	}
}
