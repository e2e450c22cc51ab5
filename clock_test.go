package usher_test

import (
	"context"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// steppedClock is a wall clock and a monotonic clock that can move apart,
// as they do when an admin or NTP steps the system time.
type steppedClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *steppedClock) Monotonic() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// pass lets d go by on both clocks.
func (c *steppedClock) pass(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
}

// step sets the wall clock d ahead (or back), as a time change does.
func (c *steppedClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
}

// openStepped returns a ledger on f's store that reads clk, holding one
// lease of feature cad.
func openStepped(t *testing.T, clk *steppedClock) (*usher.Ledger, usher.Lease) {
	t.Helper()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: clk.Now, Monotonic: clk.Monotonic,
	})
	if err != nil {
		t.Fatal(err)
	}
	lease, _, err := l.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	return l, lease
}

func TestWallClockStepForwardReclaimsNothing(t *testing.T) {
	clk := &steppedClock{wall: t0}
	l, lease := openStepped(t, clk)
	clk.step(time.Hour)
	clk.pass(time.Second)
	ended, err := l.Reclaim(context.Background())
	if err != nil || len(ended) != 0 {
		t.Fatalf("after the wall clock jumped an hour: reclaimed %d leases (err %v), want none", len(ended), err)
	}
	got, err := l.Heartbeat(context.Background(), lease.ID, usher.Owner{})
	if err != nil {
		t.Fatalf("heartbeat after the jump: %v", err)
	}
	// Answers keep reporting wall-clock time.
	if want := t0.Add(time.Hour + time.Second + keepalive); !got.ExpiresAt.Equal(want) {
		t.Fatalf("got expires_at %s, want %s", got.ExpiresAt, want)
	}
}

func TestWallClockStepBackwardStillReclaims(t *testing.T) {
	clk := &steppedClock{wall: t0}
	l, lease := openStepped(t, clk)
	clk.step(-time.Hour)
	clk.pass(keepalive + time.Second)
	ended, err := l.Reclaim(context.Background())
	if err != nil || len(ended) != 1 || ended[0].ID != lease.ID {
		t.Fatalf("after the wall clock went back an hour and the keep-alive passed: reclaimed %v (err %v), want lease %s", ended, err, lease.ID)
	}
}

// A lease that missed its keep-alive is not renewed, however far the wall
// clock went back.
func TestHeartbeatAfterKeepaliveFailsDespiteStepBack(t *testing.T) {
	clk := &steppedClock{wall: t0}
	l, lease := openStepped(t, clk)
	clk.step(-time.Hour)
	clk.pass(keepalive + time.Second)
	_, err := l.Heartbeat(context.Background(), lease.ID, usher.Owner{})
	wantCode(t, err, usher.ELeaseNotFound)
}

// Without Monotonic, the monotonic readings of time.Now's times serve:
// a lease lives its keep-alive window on them.
func TestDefaultClockKeepsLeases(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: f.store, Keyring: f.keys, KeepaliveTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lease, _, err := l.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if ended, _ := l.Reclaim(context.Background()); len(ended) != 0 {
		t.Fatalf("reclaimed %d leases at once, want none", len(ended))
	}
	if _, err := l.Heartbeat(context.Background(), lease.ID, usher.Owner{}); err != nil {
		t.Fatal(err)
	}
}
