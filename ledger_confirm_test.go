package usher_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// fakeConfirmer counts its calls and answers err.
type fakeConfirmer struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (c *fakeConfirmer) Confirm(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.err
}

func (c *fakeConfirmer) set(err error) { c.mu.Lock(); c.err = err; c.mu.Unlock() }

func (c *fakeConfirmer) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

// confirmedFixture is a fixture whose ledger asks c before refusing.
func confirmedFixture(t *testing.T, obs usher.Observer) (*fixture, *fakeConfirmer) {
	t.Helper()
	f := newFixture(t)
	c := &fakeConfirmer{}
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: f.store, Keyring: f.keys,
		KeepaliveTimeout: keepalive, Now: f.clock.Now, Observer: obs, Confirmer: c})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	return f, c
}

// TestRefusalIsConfirmedOnlyWhenRefusing: grants never ask the confirmer;
// a refusal for want of seats asks it once and stands when it holds.
func TestRefusalIsConfirmedOnlyWhenRefusing(t *testing.T) {
	f, c := confirmedFixture(t, nil)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	f.mustCheckout("cad", "a")
	f.mustCheckout("cad", "b")
	f.mustCheckout("cad", "a") // the same client again
	if got := c.count(); got != 0 {
		t.Fatalf("confirmer called %d times for grants, want 0", got)
	}
	_, err := f.checkout("cad", "c")
	wantCode(t, err, usher.ENoSeats)
	if got := c.count(); got != 1 {
		t.Fatalf("confirmer called %d times for one refusal, want 1", got)
	}
	_, err = f.checkout("nope", "c")
	wantCode(t, err, usher.EFeatureNotFound)
	if got := c.count(); got != 1 {
		t.Fatalf("confirmer called for an unknown feature (%d calls), want only for want of seats", got)
	}
}

// TestUnconfirmedRefusalIsUnavailable: a ledger that cannot confirm its
// state answers unavailable instead of no_seats_available, and records no
// denial, so that the client retries where the state is current.
func TestUnconfirmedRefusalIsUnavailable(t *testing.T) {
	obs := &observed{}
	f, c := confirmedFixture(t, obs)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	f.mustCheckout("cad", "a")
	c.set(errors.New("lost the election"))
	_, err := f.checkout("cad", "b")
	wantCode(t, err, usher.EUnavailable)
	_, _, err = f.ledger.Checkout(context.Background(), usher.CheckoutRequest{
		Feature: "cad", Client: usher.Client{ID: "w"}, Wait: 20 * time.Millisecond})
	wantCode(t, err, usher.EUnavailable)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, ev := range obs.evs {
		if ev.Type == usher.EventCheckoutDenied {
			t.Fatalf("got a checkout_denied event for an unconfirmed refusal: %+v", ev)
		}
	}
}
