package usher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// take checks out req on f's ledger.
func (f *fixture) take(req usher.CheckoutRequest) (usher.Lease, error) {
	l, _, err := f.ledger.Checkout(context.Background(), req)
	return l, err
}

func (f *fixture) mustTake(req usher.CheckoutRequest) usher.Lease {
	f.t.Helper()
	l, err := f.take(req)
	if err != nil {
		f.t.Fatalf("checkout %+v: %v", req, err)
	}
	return l
}

func (f *fixture) release(id string) {
	f.t.Helper()
	if err := f.ledger.Release(context.Background(), id, usher.Owner{}, false); err != nil {
		f.t.Fatalf("release %s: %v", id, err)
	}
}

func (f *fixture) reclaim() {
	f.t.Helper()
	if _, err := f.ledger.Reclaim(context.Background()); err != nil {
		f.t.Fatalf("Reclaim: %v", err)
	}
}

func onHost(id, host string) usher.CheckoutRequest {
	return usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id, Host: host, User: "alice", PID: 100}}
}

func TestScopeHostSharesOneSeat(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1, Scope: usher.ScopeHost})
	a := f.mustTake(onHost("win1", "ws12"))
	b := f.mustTake(onHost("win2", "ws12"))
	if a.Seat != "host:ws12" || b.Seat != a.Seat {
		t.Fatalf("got seats %q and %q, want both host:ws12", a.Seat, b.Seat)
	}
	if got := f.feature("cad"); got.InUse != 1 {
		t.Fatalf("got %d seats in use, want 1 shared by two leases", got.InUse)
	}
	_, err := f.take(onHost("other", "ws13"))
	wantCode(t, err, usher.ENoSeats)
	f.release(a.ID)
	_, err = f.take(onHost("other", "ws13"))
	wantCode(t, err, usher.ENoSeats) // win2 still holds the seat
	f.reopen()                       // the share is rebuilt from the stored leases
	_, err = f.take(onHost("other", "ws13"))
	wantCode(t, err, usher.ENoSeats)
	f.release(b.ID)
	f.mustTake(onHost("other", "ws13"))
}

func TestScopeUserAndProcess(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1, Scope: usher.ScopeUser})
	a := f.mustTake(onHost("a", "ws1"))
	b := f.mustTake(onHost("b", "ws2")) // alice on another host: the same seat
	if a.Seat != "user:alice" || b.Seat != a.Seat {
		t.Fatalf("got seats %q and %q, want user:alice", a.Seat, b.Seat)
	}
	_, err := f.take(usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c"}})
	wantCode(t, err, usher.EInvalid) // no user to count by

	g := newFixture(t)
	g.add(usher.Grant{Feature: "cad", Seats: 2, Scope: usher.ScopeProcess})
	p1 := onHost("t1", "ws1")
	p2 := onHost("t2", "ws1")
	other := onHost("t3", "ws1")
	other.Client.PID = 200
	if x, y := g.mustTake(p1), g.mustTake(p2); x.Seat != "process:ws1/100" || y.Seat != x.Seat {
		t.Fatalf("got seats %q and %q, want process:ws1/100", x.Seat, y.Seat)
	}
	g.mustTake(other)
	if got := g.feature("cad"); got.InUse != 2 {
		t.Fatalf("got %d in use, want 2 (two processes)", got.InUse)
	}
}

func TestOneScopePerFeature(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1, Scope: usher.ScopeHost})
	_, err := f.ledger.AddLicense(context.Background(), f.sign(usher.Grant{Feature: "cad", Seats: 1, Scope: usher.ScopeUser}))
	wantCode(t, err, usher.ELicenseInvalid)
}

func TestCountIsAllOrNone(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	req := func(id string, n int) usher.CheckoutRequest {
		return usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id}, Count: n}
	}
	big := f.mustTake(req("a", 3))
	if big.Count != 3 {
		t.Fatalf("got count %d, want 3", big.Count)
	}
	_, err := f.take(req("b", 3))
	wantCode(t, err, usher.ENoSeats)
	if got := f.feature("cad"); got.InUse != 3 {
		t.Fatalf("after a refused checkout of 3: got %d in use, want 3 (nothing taken)", got.InUse)
	}
	f.mustTake(req("c", 2))
	_, err = f.take(req("d", 1))
	wantCode(t, err, usher.ENoSeats)
	_, err = f.take(req("e", 6))
	wantCode(t, err, usher.EInvalid) // more than the license has
	f.reopen()
	if got := f.feature("cad"); got.InUse != 5 {
		t.Fatalf("after a restart: got %d in use, want 5", got.InUse)
	}
	f.release(big.ID)
	if got := f.feature("cad"); got.InUse != 2 {
		t.Fatalf("after releasing 3: got %d in use, want 2", got.InUse)
	}
}

// TestBigHeadIsNotStarved checks the queue rule: the head of the line is
// served only when all its seats are free, and nobody behind it passes.
func TestBigHeadIsNotStarved(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 4})
	held := f.mustTake(usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a"}, Count: 3})
	done := make(chan result, 1)
	go func() {
		l, err := f.take(usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "big"}, Count: 2, Wait: time.Minute})
		done <- result{"big", l, err}
	}()
	waitWaiters(t, f.ledger, 1)
	_, err := f.take(usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "small"}})
	wantCode(t, err, usher.ENoSeats) // one seat is free, but big is first
	f.release(held.ID)
	r := <-done
	if r.err != nil || r.lease.Count != 2 {
		t.Fatalf("big waiter: got %+v, %v, want 2 seats", r.lease, r.err)
	}
}

func TestVersionsCountPerGrant(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1, Version: "2025.4"}, usher.Grant{Feature: "cad", Seats: 1, Version: "2026.2"})
	req := func(id, v string) usher.CheckoutRequest {
		return usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id}, Version: v}
	}
	_, err := f.take(req("x", "2026.10"))
	wantCode(t, err, usher.EFeatureNotFound)
	old := f.mustTake(req("a", ""))
	if old.Version != "2025.4" {
		t.Fatalf("a checkout without version got version %q, want the lowest, 2025.4", old.Version)
	}
	f.reopen()
	newer := f.mustTake(req("b", "2026"))
	if newer.Version != "2026.2" {
		t.Fatalf("got version %q, want 2026.2", newer.Version)
	}
	f.release(old.ID)
	_, err = f.take(req("c", "2026.2"))
	wantCode(t, err, usher.ENoSeats) // the free seat is of 2025.4
	f.mustTake(req("d", "2025"))
}

func TestLingerKeepsTheSeatForItsClient(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1, Linger: 10 * time.Minute})
	first := f.mustCheckout("cad", "a")
	f.release(first.ID)
	_, err := f.checkout("cad", "b")
	wantCode(t, err, usher.ENoSeats)
	if got := f.feature("cad"); got.InUse != 1 || got.Lingering != 1 {
		t.Fatalf("got %+v, want 1 in use, 1 lingering", got)
	}
	if err := f.ledger.Release(context.Background(), first.ID, usher.Owner{}, false); usher.ErrorCode(err) != usher.ELeaseNotFound {
		t.Fatalf("second release: got %v, want %s", err, usher.ELeaseNotFound)
	}
	again := f.mustCheckout("cad", "a")
	if again.ID != first.ID || !again.LingerUntil.IsZero() {
		t.Fatalf("got %+v, want lease %s back, no longer lingering", again, first.ID)
	}
	f.release(again.ID)
	f.reopen() // the linger end is stored
	f.clock.Advance(9 * time.Minute)
	f.reclaim()
	_, err = f.checkout("cad", "b")
	wantCode(t, err, usher.ENoSeats)
	f.clock.Advance(time.Minute)
	f.reclaim()
	f.mustCheckout("cad", "b")
}

func TestPolicyLingerLengthensTheGrants(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1}, usher.Grant{Feature: "cam", Seats: 1, Linger: 10 * time.Minute})
	policy := func(cad, cam string) *usher.Policy {
		return mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Linger: cad}, "cam": {Linger: cam}}})
	}
	f.ledger.SetPolicy(policy("2m", "1m"))
	a := f.mustCheckout("cad", "a")
	f.release(a.ID)
	if got := f.feature("cad"); got.Lingering != 1 {
		t.Fatalf("got %+v, want the seat lingering by the policy", got)
	}
	_, err := f.checkout("cad", "b")
	wantCode(t, err, usher.ENoSeats)
	if !strings.Contains(usher.ErrorMessage(err), "(1 of 1, 1 lingering after a release)") {
		t.Errorf("refusal %q does not say the seat lingers", usher.ErrorMessage(err))
	}
	f.clock.Advance(2 * time.Minute)
	f.reclaim()
	b := f.mustCheckout("cad", "b")

	// Without the rule, a release frees the seat at once again.
	f.ledger.SetPolicy(policy("", "1m"))
	f.release(b.ID)
	if got := f.feature("cad"); got.InUse != 0 || got.Lingering != 0 {
		t.Fatalf("policy without linger: got %+v, want the seat free", got)
	}

	// A policy never shortens the linger the license grants.
	m := f.mustCheckout("cam", "a")
	f.release(m.ID)
	f.clock.Advance(5 * time.Minute)
	f.reclaim()
	_, err = f.checkout("cam", "b")
	wantCode(t, err, usher.ENoSeats)
	f.clock.Advance(5 * time.Minute)
	f.reclaim()
	f.mustCheckout("cam", "b")
}

func TestBorrow(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2, Borrow: 7 * 24 * time.Hour}, usher.Grant{Feature: "viewer", Seats: 1})
	req := func(feature, id string, d time.Duration) usher.CheckoutRequest {
		return usher.CheckoutRequest{Feature: feature, Client: usher.Client{ID: id}, Borrow: d}
	}
	_, err := f.take(req("cad", "a", 8*24*time.Hour))
	wantCode(t, err, usher.EBorrowNotAllowed)
	_, err = f.take(req("viewer", "a", time.Hour))
	wantCode(t, err, usher.EBorrowNotAllowed)
	b := f.mustTake(req("cad", "a", 72*time.Hour))
	if want := t0.Add(72 * time.Hour); !b.BorrowedUntil.Equal(want) {
		t.Fatalf("got borrowed_until %v, want %v", b.BorrowedUntil, want)
	}
	f.clock.Advance(time.Hour) // far past the keep-alive timeout
	f.reclaim()
	f.reopen()
	if got := f.feature("cad"); got.InUse != 1 || got.Borrowed != 1 {
		t.Fatalf("an hour on, after a restart: got %+v, want the borrowed seat held", got)
	}
	if _, err := f.ledger.Heartbeat(context.Background(), b.ID, usher.Owner{}); err != nil {
		t.Fatalf("heartbeat of a borrowed lease: %v", err)
	}
	f.clock.Advance(71 * time.Hour)
	f.reclaim()
	if got := f.feature("cad"); got.InUse != 1 {
		t.Fatalf("at borrowed_until: got %d in use, want 1", got.InUse)
	}
	f.clock.Advance(time.Second)
	f.reclaim()
	if got := f.feature("cad"); got.InUse != 0 || got.Borrowed != 0 {
		t.Fatalf("after borrowed_until: got %+v, want the seat back", got)
	}
	early := f.mustTake(req("cad", "c", time.Hour))
	f.release(early.ID)
	if got := f.feature("cad"); got.InUse != 0 {
		t.Fatalf("after an early return: got %d in use, want 0", got.InUse)
	}
}
