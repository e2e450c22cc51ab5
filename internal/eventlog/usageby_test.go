package eventlog_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestUsageByUserHostAndFeature(t *testing.T) {
	clk := ushertest.NewClock(t0)
	l := MustOpen(t, t.TempDir(), clk, nil)
	alice := usher.Client{ID: "c1", User: "alice", Host: "ws1"}
	bob := usher.Client{ID: "c2", User: "bob", Host: "ws1"}
	ev := func(at time.Duration, typ, feature, lease string, c usher.Client) {
		l.Observe(usher.Event{Type: typ, Time: t0.Add(at), Feature: feature, LeaseID: lease, Client: c})
	}
	ev(0, usher.EventLeaseGranted, "cad", "a1", alice)
	ev(time.Minute, usher.EventLeaseGranted, "cam", "b1", bob)
	ev(2*time.Minute, usher.EventCheckoutDenied, "cad", "", bob)
	ev(10*time.Minute, usher.EventLeaseReleased, "cad", "a1", alice)
	ev(11*time.Minute, usher.EventLeaseKicked, "cam", "b1", bob)
	ev(20*time.Minute, usher.EventLeaseGranted, "cad", "a2", alice) // held until the end
	clk.Advance(30 * time.Minute)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by   string
		want []eventlog.UsageTotal
	}{
		{eventlog.ByUser, []eventlog.UsageTotal{
			{Key: "alice", Checkouts: 2, HeldSeconds: 20 * 60},
			{Key: "bob", Checkouts: 1, Denials: 1, Kicks: 1, HeldSeconds: 10 * 60},
		}},
		{eventlog.ByHost, []eventlog.UsageTotal{{Key: "ws1", Checkouts: 3, Denials: 1, Kicks: 1, HeldSeconds: 30 * 60}}},
		{eventlog.ByFeature, []eventlog.UsageTotal{
			{Key: "cad", Checkouts: 2, Denials: 1, HeldSeconds: 20 * 60},
			{Key: "cam", Checkouts: 1, Kicks: 1, HeldSeconds: 10 * 60},
		}},
	} {
		got, err := l.UsageBy(context.Background(), eventlog.UsageByQuery{By: tc.by, From: t0})
		if err != nil {
			t.Fatalf("by %s: %v", tc.by, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("by %s: got %+v, want %+v", tc.by, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("by %s: got %+v, want %+v", tc.by, got[i], tc.want[i])
			}
		}
	}
	// A period that starts while leases are held counts them from its
	// start: bob's b1 from 5m to 11m, alice's a1 from 5m to 10m.
	got, err := l.UsageBy(context.Background(), eventlog.UsageByQuery{By: eventlog.ByUser, From: t0.Add(5 * time.Minute), To: t0.Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := []eventlog.UsageTotal{{Key: "bob", Kicks: 1, HeldSeconds: 6 * 60}, {Key: "alice", HeldSeconds: 5 * 60}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("from 5m to 15m: got %+v, want %+v", got, want)
	}
}

// A lingering seat is held until its linger ends, whether or not the
// period saw it granted.
func TestUsageByCountsALingeringSeat(t *testing.T) {
	clk := ushertest.NewClock(t0)
	l := MustOpen(t, t.TempDir(), clk, nil)
	alice := usher.Client{ID: "c1", User: "alice", Host: "ws1"}
	for _, ev := range []usher.Event{
		{Type: usher.EventLeaseGranted, Time: t0, LeaseID: "a1"},
		{Type: usher.EventLeaseReleased, Time: t0.Add(2 * time.Minute), LeaseID: "a1", Reason: usher.ReasonLingering},
		{Type: usher.EventLeaseExpired, Time: t0.Add(17 * time.Minute), LeaseID: "a1"},
	} {
		ev.Feature, ev.Client = "cad", alice
		l.Observe(ev)
	}
	clk.Advance(time.Hour)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, from := range []time.Time{t0, t0.Add(time.Minute), t0.Add(-3 * time.Hour)} {
		got, err := l.UsageBy(context.Background(), eventlog.UsageByQuery{By: eventlog.ByUser, From: from, To: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		start := from
		if from.Before(t0) {
			start = t0
		}
		want := int64(t0.Add(17*time.Minute).Sub(start) / time.Second)
		if len(got) != 1 || got[0].HeldSeconds != want {
			t.Errorf("from %s: got %+v, want alice holding %ds", from.Format(time.TimeOnly), got, want)
		}
	}
}

func TestUsageByRefusesBadQuery(t *testing.T) {
	l := MustOpen(t, t.TempDir(), ushertest.NewClock(t0), nil)
	for _, q := range []eventlog.UsageByQuery{{By: "client"}, {By: "user", From: t0, To: t0}} {
		if _, err := l.UsageBy(context.Background(), q); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%+v: got %v, want %s", q, err, usher.EInvalid)
		}
	}
}
