package usher_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

const day = 24 * time.Hour

func ticket(feature string, seats int, length time.Duration, group string) usher.Grant {
	return usher.Grant{Feature: feature, Seats: seats, Subscription: usher.Subscription{Length: length, Group: group}}
}

// wantServed checks the seats a feature offers and the last second it is
// served.
func (f *fixture) wantServed(feature string, seats int, lastSecond time.Time) {
	f.t.Helper()
	fs := f.feature(feature)
	if fs.Seats != seats || fs.ExpiresAt == nil || !fs.ExpiresAt.Equal(lastSecond) {
		f.t.Fatalf("got %s with %d seats until %v, want %d seats until %v", feature, fs.Seats, fs.ExpiresAt, seats, lastSecond)
	}
}

func (f *fixture) loaded(id string) bool {
	for _, l := range f.ledger.Licenses() {
		if l.ID == id {
			return true
		}
	}
	return false
}

func TestSubscriptionStartsAtActivation(t *testing.T) {
	f := newFixture(t)
	f.clock.Advance(10 * day) // issued at t0, activated ten days later
	a := f.add(ticket("cad", 2, 30*day, "pro"))
	start := t0.Add(10 * day)
	if at, ok := f.ledger.LicenseActivation(a.ID); !ok || !at.Equal(start) {
		t.Fatalf("got activation %v, %v; want %v", at, ok, start)
	}
	end := start.Add(30 * day)
	f.wantServed("cad", 2, end.Add(-time.Second))
	f.clock.Set(end.Add(-time.Second)) // before expiry
	f.mustCheckout("cad", "c1")
	f.clock.Set(end) // exactly at expiry
	_, err := f.checkout("cad", "c2")
	wantCode(t, err, usher.EFeatureExpired)
	f.clock.Set(end.Add(day)) // after
	_, err = f.checkout("cad", "c2")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestSubscriptionOfTheSameGroupWhileRunningMerges(t *testing.T) {
	f := newFixture(t)
	a := f.add(ticket("cad", 1, 30*day, "pro"))
	f.clock.Advance(10 * day)
	b := f.add(ticket("cad", 3, 90*day, "pro"))
	// 20 days were left: they add up with the new 90, at the seats of the latest ticket.
	f.wantServed("cad", 3, t0.Add(120*day-time.Second))
	if !f.loaded(a.ID) || !f.loaded(b.ID) {
		t.Fatal("a merged subscription dropped one of its tickets")
	}
	f.clock.Set(t0.Add(120*day - time.Second))
	f.mustCheckout("cad", "c1")
	f.clock.Set(t0.Add(120 * day))
	_, err := f.checkout("cad", "c2")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestSubscriptionActivatedAfterTheEndStartsFresh(t *testing.T) {
	for name, gap := range map[string]time.Duration{"after": 40 * day, "exactly at expiry": 30 * day} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			a := f.add(ticket("cad", 1, 30*day, "pro"))
			f.clock.Advance(gap)
			f.add(ticket("cad", 2, 30*day, "pro"))
			f.wantServed("cad", 2, t0.Add(gap+30*day-time.Second)) // no backfill
			if f.loaded(a.ID) {
				t.Fatal("the expired ticket is still loaded")
			}
		})
	}
}

func TestSubscriptionGroupsNeverMerge(t *testing.T) {
	f := newFixture(t)
	f.add(ticket("cad", 1, 30*day, "pro"))
	f.clock.Advance(10 * day)
	f.add(ticket("cad", 2, 30*day, "team"))
	f.wantServed("cad", 3, t0.Add(40*day-time.Second)) // both serve; the later one ends last
	f.clock.Set(t0.Add(30 * day))
	if fs := f.feature("cad"); fs.Seats != 2 {
		t.Fatalf("got %d seats once the first group ended, want 2", fs.Seats)
	}
}

func TestSubscriptionActivatedOncePerServer(t *testing.T) {
	f := newFixture(t)
	text := f.sign(ticket("cad", 1, 30*day, "pro"))
	a, err := f.ledger.AddLicense(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * day)
	if _, err := f.ledger.RemoveLicense(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	if at, _ := f.ledger.LicenseActivation(a.ID); !at.Equal(t0) {
		t.Fatalf("got activation %v after re-adding, want the first, %v", at, t0)
	}
	f.wantServed("cad", 1, t0.Add(30*day-time.Second))
}

func TestSubscriptionRestartBetweenActivations(t *testing.T) {
	f := newFixture(t)
	f.add(ticket("cad", 1, 30*day, "pro"))
	f.clock.Advance(10 * day)
	f.reopen()
	f.wantServed("cad", 1, t0.Add(30*day-time.Second))
	f.add(ticket("cad", 1, 30*day, "pro"))
	f.reopen()
	f.wantServed("cad", 1, t0.Add(60*day-time.Second))
}

func TestRemovedTicketKeepsTheMergedPeriod(t *testing.T) {
	f := newFixture(t)
	a := f.add(ticket("cad", 1, 30*day, "pro"))
	f.clock.Advance(day)
	b := f.add(ticket("cad", 1, 30*day, "pro"))
	if _, err := f.ledger.RemoveLicense(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	// No way back: the period b added stays, served by the ticket left.
	f.wantServed("cad", 1, t0.Add(60*day-time.Second))
	if !f.loaded(a.ID) {
		t.Fatal("ticket a was removed")
	}
}
