package usher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

// waitWaiters polls until n checkouts wait in line.
func waitWaiters(t *testing.T, l *usher.Ledger, n int) {
	t.Helper()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		if got := len(l.Waiters()); got != n {
			return fmt.Errorf("%d waiters in line, want %d", got, n)
		}
		return nil
	})
}

type result struct {
	client string
	lease  usher.Lease
	err    error
}

func TestQueueGrantsInArrivalOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 3})
	var held []usher.Lease
	for i := range 3 {
		held = append(held, f.mustCheckout("cad", fmt.Sprint("holder", i)))
	}
	results := make(chan result, 10)
	for i := range 10 {
		client := fmt.Sprint("waiter", i)
		go func() {
			l, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client}, Wait: time.Minute})
			results <- result{client, l, err}
		}()
		waitWaiters(t, f.ledger, i+1)
	}
	if got := f.feature("cad").Queued; got != 10 {
		t.Fatalf("queued %d, want 10", got)
	}
	// A newcomer cannot jump the line.
	_, err := f.checkout("cad", "newcomer")
	wantCode(t, err, usher.ENoSeats)

	var granted []result
	for i := range 10 {
		var victim usher.Lease
		if i < 3 {
			victim = held[i]
		} else {
			victim = granted[i-3].lease
		}
		if err := f.ledger.Release(ctx, victim.ID, usher.Owner{}, false); err != nil {
			t.Fatalf("release: %v", err)
		}
		r := <-results
		if r.err != nil {
			t.Fatalf("waiter %s: %v", r.client, r.err)
		}
		if want := fmt.Sprint("waiter", i); r.client != want {
			t.Fatalf("seat %d went to %s, want %s", i, r.client, want)
		}
		granted = append(granted, r)
	}
	if got := f.feature("cad"); got.InUse != 3 || got.Queued != 0 {
		t.Fatalf("after the line emptied: %+v, want 3 in use and none queued", got)
	}
	if got := f.store.leaseCount(); got != 3 {
		t.Fatalf("store holds %d leases, want 3", got)
	}
}

func TestQueueWaitRunsOut(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	f.mustCheckout("cad", "a")
	_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b"}, Wait: 20 * time.Millisecond})
	wantCode(t, err, usher.ENoSeats)
	if got := f.feature("cad").Queued; got != 0 {
		t.Fatalf("a waiter whose wait ran out is still in line (%d queued)", got)
	}
}

func TestQueueWaiterThatLeavesGivesUpItsPlace(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	held := f.mustCheckout("cad", "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "gone"}, Wait: time.Minute})
		done <- err
	}()
	waitWaiters(t, f.ledger, 1)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled waiter got a seat")
	}
	if err := f.ledger.Release(context.Background(), held.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	if got := f.feature("cad"); got.InUse != 0 || got.Queued != 0 {
		t.Fatalf("got %+v, want the seat free and nobody in line", got)
	}
}

func TestQueueServedWhenLicenseAdded(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 0})
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "w"}, Wait: time.Minute})
		done <- err
	}()
	waitWaiters(t, f.ledger, 1)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	if err := <-done; err != nil {
		t.Fatalf("waiter not served by the new license: %v", err)
	}
}

func TestQueueServedWhenAGrantStarts(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	f.add(usher.Grant{Feature: "cad", Seats: 1, StartsAt: t0.Add(time.Hour)})
	f.mustCheckout("cad", "a")
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "w"}, Wait: time.Minute})
		done <- err
	}()
	waitWaiters(t, f.ledger, 1)
	f.clock.Advance(time.Hour)
	if _, err := f.ledger.Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter not served when the second grant started: %v", err)
	}
}

// TestQueueEventsSayHowLongTheyWaited: the grant of a checkout that waited
// in line says how long, for the usage report's waits and capacity.
func TestQueueEventsSayHowLongTheyWaited(t *testing.T) {
	ctx := context.Background()
	f, obs := newObservedFixture(t)
	l := f.ledger
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	a := f.mustCheckout("cad", "a")
	done := make(chan error, 1)
	go func() {
		_, _, err := l.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b"}, Wait: time.Minute})
		done <- err
	}()
	waitWaiters(t, l, 1)
	f.clock.Advance(3 * time.Second)
	if err := l.Release(ctx, a.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var got []int64
	for _, ev := range obs.evs {
		if ev.Type == usher.EventLeaseGranted {
			got = append(got, ev.WaitedMS)
		}
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 3000 {
		t.Errorf("waited_ms of the grants: got %v, want [0 3000]", got)
	}
}
