package usher_test

import (
	"context"
	"testing"

	usher "github.com/usher-lm/usher"
)

var (
	alice = usher.Owner{Kind: "token", ID: "tk_alice"}
	bob   = usher.Owner{Kind: "token", ID: "tk_bob"}
)

func (f *fixture) checkoutAs(by usher.Owner, feature, client string) (usher.Lease, bool, error) {
	return f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}, Owner: by})
}

func TestCheckoutOfAnotherOwnersClientIDIsRefused(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	held, _, err := f.checkoutAs(alice, "cad", "c1")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := f.checkoutAs(bob, "cad", "c1")
	wantCode(t, err, usher.ELeaseHeldElsewhere)
	if got.ID != "" {
		t.Fatalf("got lease %s for another owner, want none", got.ID)
	}
	again, created, err := f.checkoutAs(alice, "cad", "c1")
	if err != nil || created || again.ID != held.ID {
		t.Fatalf("owner checking out again: got %s, created %v, err %v; want %s, false, nil", again.ID, created, err, held.ID)
	}
	if got := f.feature("cad").InUse; got != 1 {
		t.Fatalf("got %d seats in use, want 1", got)
	}
}

func TestHeartbeatAndReleaseNeedTheOwner(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	ctx := context.Background()
	held, _, err := f.checkoutAs(alice, "cad", "c1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ledger.Heartbeat(ctx, held.ID, bob)
	wantCode(t, err, usher.ELeaseHeldElsewhere)
	wantCode(t, f.ledger.Release(ctx, held.ID, bob, false), usher.ELeaseHeldElsewhere)
	if _, err := f.ledger.Heartbeat(ctx, held.ID, alice); err != nil {
		t.Fatalf("owner's heartbeat: %v", err)
	}
	// An admin kicks whoever owns the lease.
	if err := f.ledger.Release(ctx, held.ID, usher.Owner{}, true); err != nil {
		t.Fatalf("kick: %v", err)
	}
	if n := f.store.leaseCount(); n != 0 {
		t.Fatalf("got %d stored leases after the kick, want 0", n)
	}
}

func TestOwnerOutlivesRestart(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	held, _, err := f.checkoutAs(alice, "cad", "c1")
	if err != nil {
		t.Fatal(err)
	}
	f.reopen()
	_, err = f.ledger.Heartbeat(context.Background(), held.ID, bob)
	wantCode(t, err, usher.ELeaseHeldElsewhere)
	_, _, err = f.checkoutAs(bob, "cad", "c1")
	wantCode(t, err, usher.ELeaseHeldElsewhere)
	if _, err := f.ledger.Heartbeat(context.Background(), held.ID, alice); err != nil {
		t.Fatalf("owner's heartbeat after restart: %v", err)
	}
}

// A lease stored before leases had owners loads, and goes to the first
// caller that uses it.
func TestLeaseStoredWithoutOwnerGoesToFirstCaller(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	old := usher.Lease{ID: "ls_old", Feature: "cad", Client: usher.Client{ID: "c1"}, IssuedAt: t0}
	if err := f.store.PutLease(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if _, err := f.ledger.Heartbeat(context.Background(), old.ID, alice); err != nil {
		t.Fatalf("first heartbeat of an ownerless lease: %v", err)
	}
	_, err := f.ledger.Heartbeat(context.Background(), old.ID, bob)
	wantCode(t, err, usher.ELeaseHeldElsewhere)
}
