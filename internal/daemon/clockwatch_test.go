package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// clockServer starts a server on a stopped clock at start, checking the
// clock every 20ms, with a license issued a month before start that grants
// "dated" (expiring in a month) and "plain" (no dates).
func clockServer(t *testing.T, start time.Time) (*ushertest.Server, *ushertest.Clock) {
	t.Helper()
	clock := ushertest.NewClock(start)
	s := ushertest.StartServer(t, ushertest.ServerOptions{Daemon: daemon.Options{Now: clock.Now, ClockInterval: 20 * time.Millisecond}})
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: start.AddDate(0, -1, 0), Grants: []usher.Grant{
		{Feature: "dated", Seats: 5, ExpiresAt: start.AddDate(0, 1, 0)}, {Feature: "plain", Seats: 5},
	}}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	return s, clock
}

func clockCheckout(c *apiclient.Client, feature, client string) error {
	_, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}})
	return err
}

// waitEvent waits until an event of type typ was recorded n times.
func waitEvent(t *testing.T, c *apiclient.Client, typ string, n int) {
	t.Helper()
	ushertest.WaitFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		evs, err := c.Events(context.Background(), wire.EventsQuery{Type: typ, Since: "2000-01-01T00:00:00Z"})
		if err != nil {
			return err
		}
		if len(evs) < n {
			return fmt.Errorf("%d %s events, want %d", len(evs), typ, n)
		}
		return nil
	})
}

func featureState(t *testing.T, c *apiclient.Client, name string) string {
	t.Helper()
	fs, err := c.Features(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == name {
			return f.State
		}
	}
	return ""
}

// TestClockSetBack checks that a clock set back by more than
// clock_tolerance refuses features with dates, not the others, shows it
// in /v1/features and records an event; and that setting it right serves
// them again and records that too.
func TestClockSetBack(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	s, clock := clockServer(t, start)
	c := s.Admin()
	if err := clockCheckout(c, "dated", "a1"); err != nil {
		t.Fatalf("checkout with the clock right: %v", err)
	}
	clock.Set(start.Add(-30 * time.Minute)) // within the tolerance
	if err := clockCheckout(c, "dated", "a2"); err != nil {
		t.Fatalf("checkout 30 minutes back: got %v, want a lease", err)
	}
	clock.Set(start.Add(-2 * time.Hour))
	waitEvent(t, c, eventlog.EventClockTampered, 1)
	if err := clockCheckout(c, "dated", "a3"); usher.ErrorCode(err) != usher.EClockTampered || wire.StatusOf(usher.ErrorCode(err)) != 403 {
		t.Errorf("dated checkout 2 hours back: got %v, want 403 %s", err, usher.EClockTampered)
	}
	if err := clockCheckout(c, "plain", "a3"); err != nil {
		t.Errorf("plain checkout 2 hours back: got %v, want a lease", err)
	}
	if got := featureState(t, c, "dated"); got != usher.FeatureClockTampered {
		t.Errorf("state of dated: got %q, want %q", got, usher.FeatureClockTampered)
	}
	clock.Set(start.Add(time.Minute))
	waitEvent(t, c, eventlog.EventClockRestored, 1)
	if err := clockCheckout(c, "dated", "a3"); err != nil {
		t.Errorf("dated checkout with the clock right again: got %v, want a lease", err)
	}
}

// TestClockSetBackAcrossRestart checks that the latest time seen survives
// a restart: a server started with its clock three hours behind the last
// run refuses features with dates at once.
func TestClockSetBackAcrossRestart(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	s, clock := clockServer(t, start)
	s.Close()
	clock.Set(start.Add(-3 * time.Hour))
	s.Start()
	c := s.Admin()
	if err := clockCheckout(c, "dated", "a1"); usher.ErrorCode(err) != usher.EClockTampered {
		t.Errorf("dated checkout after a restart 3 hours back: got %v, want %s", err, usher.EClockTampered)
	}
	if err := clockCheckout(c, "plain", "a1"); err != nil {
		t.Errorf("plain checkout: got %v, want a lease", err)
	}
	waitEvent(t, c, eventlog.EventClockTampered, 1)
}

// TestClockBeforeLicenseIssue checks that a server on a fresh data
// directory, with nothing seen yet, refuses features with dates while its
// clock is before the issue time of a loaded license.
func TestClockBeforeLicenseIssue(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	s, clock := clockServer(t, start)
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: start.AddDate(1, 0, 0),
		Grants: []usher.Grant{{Feature: "future", Seats: 1, ExpiresAt: start.AddDate(2, 0, 0)}}}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Admin()
	if _, err := c.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	if err := clockCheckout(c, "dated", "a1"); usher.ErrorCode(err) != usher.EClockTampered {
		t.Errorf("checkout a year before a license's issue: got %v, want %s", err, usher.EClockTampered)
	}
	clock.Set(start.AddDate(1, 0, 0))
	if err := clockCheckout(c, "dated", "a1"); err == nil || usher.ErrorCode(err) == usher.EClockTampered {
		t.Errorf("checkout at the issue time: got %v, want the feature's own expiry", err)
	}
}
