package usher_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

func (m *memStore) PutBan(_ context.Context, b usher.Ban) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.bans == nil {
		m.bans = make(map[string]usher.Ban)
	}
	m.bans[b.ID] = b
	return nil
}

func (m *memStore) DeleteBans(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, id := range ids {
		delete(m.bans, id)
	}
	return nil
}

func (f *fixture) checkoutUser(feature, client, user, host string) error {
	_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{
		Feature: feature, Client: usher.Client{ID: client, User: user, Host: host},
	})
	return err
}

func (f *fixture) ban(req usher.BanRequest) usher.Ban {
	f.t.Helper()
	b, err := f.ledger.Ban(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Ban(%+v): %v", req, err)
	}
	return b
}

func TestBanKeepsUserOffFeatureUntilItEnds(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5}, usher.Grant{Feature: "cam", Seats: 5})
	b := f.ban(usher.BanRequest{Feature: "cad", User: "alice", For: 10 * time.Minute})
	if want := t0.Add(10 * time.Minute); !b.Until.Equal(want) {
		t.Fatalf("got until %v, want %v", b.Until, want)
	}
	wantCode(t, f.checkoutUser("cad", "c1", "alice", "ws1"), usher.EBanned)
	if err := f.checkoutUser("cam", "c2", "alice", "ws1"); err != nil {
		t.Fatalf("checkout of another feature by the banned user: got %v, want a lease", err)
	}
	if err := f.checkoutUser("cad", "c3", "bob", "ws1"); err != nil {
		t.Fatalf("checkout by another user: got %v, want a lease", err)
	}
	f.clock.Advance(10*time.Minute - time.Second)
	wantCode(t, f.checkoutUser("cad", "c1", "alice", "ws1"), usher.EBanned)
	f.clock.Advance(time.Second)
	if err := f.checkoutUser("cad", "c1", "alice", "ws1"); err != nil {
		t.Fatalf("checkout once the ban ended: got %v, want a lease", err)
	}
	if got := f.ledger.Bans(); len(got) != 0 {
		t.Fatalf("got bans %+v after the end, want none", got)
	}
}

func TestBanByHostOnEveryFeature(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5}, usher.Grant{Feature: "cam", Seats: 5})
	f.ban(usher.BanRequest{Host: "kiosk", For: time.Hour})
	wantCode(t, f.checkoutUser("cad", "c1", "alice", "kiosk"), usher.EBanned)
	wantCode(t, f.checkoutUser("cam", "c2", "", "kiosk"), usher.EBanned)
	if err := f.checkoutUser("cad", "c3", "alice", "ws1"); err != nil {
		t.Fatalf("checkout from another host: got %v, want a lease", err)
	}
}

func TestBanOfUserOnHostNeedsBoth(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.ban(usher.BanRequest{User: "alice", Host: "kiosk", For: time.Hour})
	wantCode(t, f.checkoutUser("cad", "c1", "alice", "kiosk"), usher.EBanned)
	for _, c := range []struct{ user, host string }{{"alice", "ws1"}, {"bob", "kiosk"}} {
		if err := f.checkoutUser("cad", "c-"+c.user+c.host, c.user, c.host); err != nil {
			t.Fatalf("checkout by %s on %s: got %v, want a lease", c.user, c.host, err)
		}
	}
}

func TestBanSurvivesRestartAndEndsInStore(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	b := f.ban(usher.BanRequest{Feature: "cad", User: "alice", For: time.Hour})
	f.reopen()
	wantCode(t, f.checkoutUser("cad", "c1", "alice", ""), usher.EBanned)
	if got := f.ledger.Bans(); len(got) != 1 || got[0] != b {
		t.Fatalf("got bans %+v after restart, want [%+v]", got, b)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.ledger.Reclaim(context.Background()); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	f.store.mu.Lock()
	left := len(f.store.bans)
	f.store.mu.Unlock()
	if left != 0 {
		t.Fatalf("got %d bans stored after the end and a sweep, want 0", left)
	}
}

func TestBanAgainReplaces(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.ban(usher.BanRequest{User: "alice", For: time.Hour})
	f.ban(usher.BanRequest{User: "alice", For: time.Minute})
	if got := f.ledger.Bans(); len(got) != 1 || !got[0].Until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("got bans %+v, want one until %v", got, t0.Add(time.Minute))
	}
}

func TestUnbanLiftsAtOnce(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	b := f.ban(usher.BanRequest{User: "alice", For: time.Hour})
	if _, err := f.ledger.Unban(context.Background(), b.ID); err != nil {
		t.Fatalf("Unban: %v", err)
	}
	if err := f.checkoutUser("cad", "c1", "alice", ""); err != nil {
		t.Fatalf("checkout after unban: got %v, want a lease", err)
	}
	_, err := f.ledger.Unban(context.Background(), b.ID)
	wantCode(t, err, usher.EBanNotFound)
	f.reopen()
	if got := f.ledger.Bans(); len(got) != 0 {
		t.Fatalf("got bans %+v after unban and restart, want none", got)
	}
}

func TestBanRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, req := range []usher.BanRequest{
		{Feature: "cad", For: time.Hour},
		{User: "alice"},
		{User: "alice", For: usher.MaxBan + time.Second},
	} {
		_, err := f.ledger.Ban(context.Background(), req)
		wantCode(t, err, usher.EInvalid)
	}
}

func TestBanNotStoredIsNotInForce(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.store.setFail(usher.Errorf(usher.EUnavailable, "disk gone"))
	if _, err := f.ledger.Ban(context.Background(), usher.BanRequest{User: "alice", For: time.Hour}); err == nil {
		t.Fatal("Ban with a failing store: got nil error, want one")
	}
	f.store.setFail(nil)
	if err := f.checkoutUser("cad", "c1", "alice", ""); err != nil {
		t.Fatalf("checkout after a failed ban: got %v, want a lease", err)
	}
}

func TestBannedWaiterLosesItsPlace(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	held := f.mustCheckout("cad", "holder")
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{
			Feature: "cad", Client: usher.Client{ID: "w", User: "alice"}, Wait: time.Minute,
		})
		done <- err
	}()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, ushertest.Until("the waiter in line", func() bool { return len(f.ledger.Waiters()) == 1 }))
	f.ban(usher.BanRequest{User: "alice", For: time.Hour})
	if err := f.ledger.Release(context.Background(), held.ID, usher.Owner{}, false); err != nil {
		t.Fatalf("Release: %v", err)
	}
	wantCode(t, <-done, usher.EBanned)
}
