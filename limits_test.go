package usher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// openLimited returns a ledger on f's store with the given limits.
func (f *fixture) openLimited(limits usher.AddressLimits) *usher.Ledger {
	f.t.Helper()
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, Limits: limits,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func checkoutFrom(l *usher.Ledger, addr, feature, client string, wait time.Duration) (usher.Lease, error) {
	ls, _, err := l.Checkout(context.Background(), usher.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}, Addr: addr, Wait: wait})
	return ls, err
}

const (
	addrA = "192.0.2.1"
	addrB = "192.0.2.2"
)

func TestLeasesPerAddressAreLimited(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	l := f.openLimited(usher.AddressLimits{Leases: 3})
	var held []usher.Lease
	for i := range 3 {
		ls, err := checkoutFrom(l, addrA, "cad", fmt.Sprint("a", i), 0)
		if err != nil {
			t.Fatalf("lease %d of address A: %v", i, err)
		}
		held = append(held, ls)
	}
	_, err := checkoutFrom(l, addrA, "cad", "a3", 0)
	wantCode(t, err, usher.ETooManyLeases)
	// A retried checkout gets the lease it holds.
	if again, err := checkoutFrom(l, addrA, "cad", "a0", 0); err != nil || again.ID != held[0].ID {
		t.Fatalf("retried checkout at the limit: got %q, %v; want %q", again.ID, err, held[0].ID)
	}
	if _, err := checkoutFrom(l, addrB, "cad", "b0", 0); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if err := l.Release(context.Background(), held[1].ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := checkoutFrom(l, addrA, "cad", "a3", 0); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// An IPv6 client usually has a whole /64: its addresses count together.
func TestLeaseLimitCountsIPv6By64(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	l := f.openLimited(usher.AddressLimits{Leases: 2})
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if _, err := checkoutFrom(l, addr, "cad", fmt.Sprint("a", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := checkoutFrom(l, "2001:db8:1:2::77", "cad", "a2", 0)
	wantCode(t, err, usher.ETooManyLeases)
	if _, err := checkoutFrom(l, "2001:db8:1:3::1", "cad", "b0", 0); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	// An IPv4-mapped address counts as the IPv4 address.
	for i, addr := range []string{"192.0.2.9", "::ffff:192.0.2.9"} {
		if _, err := checkoutFrom(l, addr, "cad", fmt.Sprint("v4-", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err = checkoutFrom(l, "192.0.2.9", "cad", "v4-2", 0)
	wantCode(t, err, usher.ETooManyLeases)
}

func TestLeaseLimitCountsLeasesAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	l := f.openLimited(usher.AddressLimits{Leases: 2})
	for i := range 2 {
		if _, err := checkoutFrom(l, addrA, "cad", fmt.Sprint("a", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	l = f.openLimited(usher.AddressLimits{Leases: 2})
	_, err := checkoutFrom(l, addrA, "cad", "a2", 0)
	wantCode(t, err, usher.ETooManyLeases)
}

func TestWaitersPerAddressAreLimited(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	l := f.openLimited(usher.AddressLimits{Waiters: 2})
	if _, err := checkoutFrom(l, addrB, "cad", "holder", 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 3)
	wait := func(addr, client string) {
		go func() {
			_, _, err := l.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client}, Addr: addr, Wait: time.Minute})
			errs <- err
		}()
	}
	for i := range 2 {
		wait(addrA, fmt.Sprint("a", i))
		waitWaiters(t, l, i+1)
	}
	_, err := checkoutFrom(l, addrA, "cad", "a2", time.Minute)
	wantCode(t, err, usher.ETooManyWaiters)
	wait(addrB, "b1") // another address still queues
	waitWaiters(t, l, 3)
	cancel()
	for range 3 {
		<-errs
	}
	// The waiters that left no longer count.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	wait(addrA, "a3")
	waitWaiters(t, l, 1)
	cancel()
	<-errs
}

// A waiter whose address took its fill of leases while it waited is
// refused the seat, and the next in line gets it.
func TestWaiterAtLeaseLimitIsPassedOver(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1}, usher.Grant{Feature: "viewer", Unlimited: true})
	l := f.openLimited(usher.AddressLimits{Leases: 1})
	holder, err := checkoutFrom(l, addrB, "cad", "holder", 0)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan result, 2)
	wait := func(addr, client string) {
		go func() {
			ls, err := checkoutFrom(l, addr, "cad", client, time.Minute)
			results <- result{client, ls, err}
		}()
	}
	wait(addrA, "a-waits")
	waitWaiters(t, l, 1)
	wait("192.0.2.3", "c-waits")
	waitWaiters(t, l, 2)
	if _, err := checkoutFrom(l, addrA, "viewer", "a-views", 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(context.Background(), holder.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for range 2 {
		r := <-results
		got[r.client] = r
	}
	if err := got["a-waits"].err; usher.ErrorCode(err) != usher.ETooManyLeases {
		t.Fatalf("A's waiter got %v, want %s", err, usher.ETooManyLeases)
	}
	if r := got["c-waits"]; r.err != nil || r.lease.ID == "" {
		t.Fatalf("next in line got %+v, %v; want the seat", r.lease, r.err)
	}
}
