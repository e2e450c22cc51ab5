package usher_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

func (f *fixture) assign(feature string, users ...string) ([]usher.Registration, error) {
	return f.ledger.Assign(context.Background(), feature, users)
}

func TestNamedUsersOnlyRegisteredCheckOut(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2, Users: usher.UsersNamed})
	if err := f.checkoutUser("cad", "c1", "alice", "ws1"); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("got %v, want user_not_registered", err)
	}
	if _, err := f.assign("cad", "alice"); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.checkoutUser("cad", "c1", "alice", "ws1"); err != nil {
		t.Fatalf("checkout by a registered user: %v", err)
	}
	if err := f.checkoutUser("cad", "c2", "", "ws1"); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("checkout without a user: got %v, want user_not_registered", err)
	}
	regs := f.ledger.Registrations("cad")
	if len(regs) != 1 || regs[0].User != "alice" || !regs[0].RegisteredAt.Equal(t0) || !regs[0].LastCheckoutAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("got registrations %+v, want alice registered at %v, last checkout a minute later", regs, t0)
	}
	f.reopen()
	regs = f.ledger.Registrations("cad")
	if len(regs) != 1 || !regs[0].LastCheckoutAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a restart got %+v, want alice with her last checkout", regs)
	}
	if err := f.checkoutUser("cad", "c3", "alice", "ws2"); err != nil {
		t.Fatalf("checkout by a registered user after a restart: %v", err)
	}
}

func TestNamedUsersLimitedToSeats(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2, Users: usher.UsersNamed})
	if _, err := f.assign("cad", "alice", "bob", "alice"); err != nil {
		t.Fatalf("Assign two: %v", err)
	}
	_, err := f.assign("cad", "carol")
	wantCode(t, err, usher.ETooManyUsers)
	if got, err := f.assign("cad", "bob"); err != nil || len(got) != 0 {
		t.Fatalf("registering bob again: got %+v, %v, want nothing new and no error", got, err)
	}
	gone, err := f.ledger.Unassign(context.Background(), "cad", []string{"bob", "nobody"})
	if err != nil || len(gone) != 1 || gone[0].User != "bob" {
		t.Fatalf("Unassign: got %+v, %v, want bob", gone, err)
	}
	if _, err := f.assign("cad", "carol"); err != nil {
		t.Fatalf("Assign after unassign: %v", err)
	}
	f.reopen()
	var users []string
	for _, r := range f.ledger.Registrations("cad") {
		users = append(users, r.User)
	}
	if len(users) != 2 || users[0] != "alice" || users[1] != "carol" {
		t.Fatalf("after a restart got users %v, want [alice carol]", users)
	}
	if err := f.checkoutUser("cad", "c1", "bob", ""); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("unassigned bob: got %v, want user_not_registered", err)
	}
}

func TestAssignRefusesFeatureWithoutNamedUsers(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	_, err := f.assign("cad", "alice")
	wantCode(t, err, usher.EInvalid)
	_, err = f.assign("nope", "alice")
	wantCode(t, err, usher.EInvalid)
	_, err = f.assign("cad", " alice")
	wantCode(t, err, usher.EInvalid)
	if err := f.checkoutUser("cad", "c1", "anyone", ""); err != nil {
		t.Fatalf("a feature without users=named refused %v", err)
	}
}

func TestNamedUsersGrantLineRoundTrip(t *testing.T) {
	f := newFixture(t)
	text := f.sign(usher.Grant{Feature: "cad", Seats: 2, Users: usher.UsersNamed})
	lic, err := f.keys.Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if lic.Grants[0].Users != usher.UsersNamed {
		t.Fatalf("got grant %+v, want users=named", lic.Grants[0])
	}
	bad := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1, Users: "everyone"}}}
	if _, err := usher.Sign(bad, f.priv); usher.ErrorCode(err) != usher.EInvalid {
		t.Fatalf("Sign users=everyone: got %v, want invalid_request", err)
	}
}

func TestUnassignedWaiterGivesTheSeatToTheNext(t *testing.T) {
	f2 := newFixture(t)
	f2.add(usher.Grant{Feature: "cad", Seats: 2, Users: usher.UsersNamed})
	if _, err := f2.assign("cad", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	hold := func(client, user string) usher.Lease {
		ls, _, err := f2.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client, User: user}})
		if err != nil {
			t.Fatalf("checkout %s: %v", client, err)
		}
		return ls
	}
	first := hold("a1", "alice")
	hold("b1", "bob")
	waited := make(chan error, 2)
	wait := func(client, user string) {
		_, _, err := f2.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client, User: user}, Wait: time.Minute})
		waited <- err
	}
	go wait("b2", "bob")
	ushertest.WaitFor(t, 5*time.Second, time.Millisecond, ushertest.Until("bob in line", func() bool { return len(f2.ledger.Waiters()) == 1 }))
	go wait("a2", "alice")
	ushertest.WaitFor(t, 5*time.Second, time.Millisecond, ushertest.Until("alice in line", func() bool { return len(f2.ledger.Waiters()) == 2 }))
	if _, err := f2.ledger.Unassign(context.Background(), "cad", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if err := f2.ledger.Release(context.Background(), first.ID, first.Owner, false); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for range 2 {
		got[usher.ErrorCode(<-waited)]++
	}
	if got[""] != 1 || got[usher.EUserNotRegistered] != 1 {
		t.Fatalf("got outcomes %v, want alice served and bob refused as not registered", got)
	}
}
