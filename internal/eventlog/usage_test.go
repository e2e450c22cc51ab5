package eventlog_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestUsageQueryValidate(t *testing.T) {
	l := MustOpen(t, t.TempDir(), ushertest.NewClock(t0), nil)
	for _, q := range []eventlog.UsageQuery{
		{Step: 90 * time.Second},
		{From: t0, To: t0},
	} {
		if _, err := l.Usage(context.Background(), q); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%+v: got %v, want %s", q, err, usher.EInvalid)
		}
	}
}

// TestUsagePeakFromGrants: events reach the log in no strict order (a
// release may come after a later grant), so peaks come from the seats in
// use that each grant reports, not from counting events.
func TestUsagePeakFromGrants(t *testing.T) {
	l := MustOpen(t, t.TempDir(), ushertest.NewClock(t0), nil)
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "a", InUse: 1})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "b", InUse: 1}) // a was released before
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", LeaseID: "a"})
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", LeaseID: "b"})
	got := eventlogtest.MustUsage(t, l, eventlog.UsageQuery{})
	if len(got) != 1 || got[0].Peak != 1 || got[0].Checkouts != 2 {
		t.Fatalf("got %+v, want one minute with peak 1 and 2 checkouts", got)
	}
}
