package usher_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// guardedFixture is a ledger fixture whose ledger answers to a clock
// guard with the default tolerance.
func guardedFixture(t *testing.T) (*fixture, *usher.ClockGuard) {
	t.Helper()
	f := newFixture(t)
	g := usher.NewClockGuard(0)
	f.reopenGuarded(g)
	return f, g
}

func (f *fixture) reopenGuarded(g *usher.ClockGuard) {
	f.t.Helper()
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, ClockGuard: g,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.ledger = l
}

// TestClockGuardRefusesDatedFeatures checks that with the clock more than
// the tolerance behind a time seen, checkouts and heartbeats of features
// with dates answer clock_tampered and the feature shows it, while a
// feature without dates is served; within the tolerance all is served.
func TestClockGuardRefusesDatedFeatures(t *testing.T) {
	f, g := guardedFixture(t)
	f.add(usher.Grant{Feature: "dated", Seats: 5, ExpiresAt: t0.Add(30 * 24 * time.Hour)})
	f.add(usher.Grant{Feature: "plain", Seats: 5})
	held := f.mustCheckout("dated", "c1")
	g.Saw(t0.Add(time.Hour))
	f.clock.Set(t0.Add(time.Minute)) // 59 minutes behind: within the tolerance
	f.mustCheckout("dated", "c2")
	f.clock.Set(t0.Add(-time.Minute)) // 61 minutes behind
	_, err := f.checkout("dated", "c3")
	wantCode(t, err, usher.EClockTampered)
	_, err = f.ledger.Heartbeat(context.Background(), held.ID, held.Owner)
	wantCode(t, err, usher.EClockTampered)
	if got := f.feature("dated").State; got != usher.FeatureClockTampered {
		t.Errorf("state: got %q, want %q", got, usher.FeatureClockTampered)
	}
	f.mustCheckout("plain", "c3")
	if got := f.feature("plain").State; got != usher.FeatureActive {
		t.Errorf("state of plain: got %q, want %q", got, usher.FeatureActive)
	}
}

// TestClockGuardLicenseIssueTime checks that a clock before the issue time
// of a loaded license, by more than the tolerance, is set back even with
// nothing seen; and that removing the license lifts it.
func TestClockGuardLicenseIssueTime(t *testing.T) {
	f, g := guardedFixture(t)
	f.add(usher.Grant{Feature: "dated", Seats: 5, ExpiresAt: t0.Add(30 * 24 * time.Hour)})
	later := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0.Add(48 * time.Hour),
		Grants: []usher.Grant{{Feature: "other", Seats: 1}}}
	text, err := usher.Sign(later, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(t0); usher.ErrorCode(err) != usher.EClockTampered {
		t.Errorf("two days before a license's issue: got %v, want %s", err, usher.EClockTampered)
	}
	_, err = f.checkout("dated", "c1")
	wantCode(t, err, usher.EClockTampered)
	if _, err := f.ledger.RemoveLicense(context.Background(), later.ID); err != nil {
		t.Fatal(err)
	}
	f.mustCheckout("dated", "c1")
}

// TestClockGuardSeesStoredLeases checks that a ledger opened on stored
// leases counts their checkout times as seen: a restart with the clock set
// back is noticed without any other record.
func TestClockGuardSeesStoredLeases(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "dated", Seats: 5, ExpiresAt: t0.Add(30 * 24 * time.Hour)})
	f.clock.Set(t0.Add(5 * time.Hour))
	f.mustCheckout("dated", "c1")
	f.clock.Set(t0)
	g := usher.NewClockGuard(time.Hour)
	f.reopenGuarded(g)
	if got, want := g.Latest(), t0.Add(5*time.Hour); !got.Equal(want) {
		t.Errorf("latest seen: got %s, want %s", got, want)
	}
	_, err := f.checkout("dated", "c2")
	wantCode(t, err, usher.EClockTampered)
}

// TestClockGuardSawOnlyRises checks that Saw keeps the latest time.
func TestClockGuardSawOnlyRises(t *testing.T) {
	g := usher.NewClockGuard(time.Hour)
	if !g.Saw(t0) || g.Saw(t0.Add(-time.Second)) || !g.Saw(t0.Add(time.Second)) {
		t.Error("Saw: want true, false, true")
	}
	if got := g.Latest(); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("latest: got %s, want %s", got, t0.Add(time.Second))
	}
	var none *usher.ClockGuard
	if err := none.Check(t0); err != nil {
		t.Errorf("nil guard: got %v, want nil", err)
	}
}
