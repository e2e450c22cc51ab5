package eventlog_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestReport(t *testing.T) {
	clk := ushertest.NewClock(t0)
	l := MustOpen(t, t.TempDir(), clk, nil)
	alice := usher.Client{ID: "c1", User: "alice", Host: "ws1"}
	bob := usher.Client{ID: "c2", User: "bob", Host: "ws2"}
	ev := func(at time.Duration, typ, lease string, c usher.Client, waited time.Duration, reason string) {
		l.Observe(usher.Event{Type: typ, Time: t0.Add(at), Feature: "cad", LeaseID: lease, Client: c, InUse: 1,
			WaitedMS: waited.Milliseconds(), Reason: reason})
	}
	ev(0, usher.EventLeaseGranted, "a1", alice, 0, "")
	ev(time.Minute, usher.EventCheckoutDenied, "", bob, 0, usher.ENoSeats) // demand 2
	ev(10*time.Minute, usher.EventLeaseReleased, "a1", alice, 0, "")
	ev(10*time.Minute, usher.EventLeaseGranted, "b1", bob, 4*time.Minute, "") // in line from 6m: demand 2
	ev(40*time.Minute, usher.EventLeaseReleased, "b1", bob, 0, "")
	clk.Advance(time.Hour)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	zone := time.FixedZone("+02:00", 2*3600)
	r, err := l.Report(context.Background(), eventlog.ReportQuery{From: t0, Zone: zone, ZoneName: "+02:00"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Features) != 1 {
		t.Fatalf("features: got %+v, want cad only", r.Features)
	}
	f := r.Features[0]
	if f.Feature != "cad" || f.Peak != 1 || f.Checkouts != 2 || f.Denials != 1 || f.SeatHours != 40.0/60 {
		t.Errorf("cad: got %+v", f)
	}
	if want := (usher.CapacityEstimate{Requests: 3, MaxDemand: 2, Seats: 2}); f.Capacity != want {
		t.Errorf("capacity: got %+v, want %+v", f.Capacity, want)
	}
	if want := (usher.QueueWaits{Granted: 1, P50MS: 240000, P95MS: 240000, MaxMS: 240000}); f.Waits != want {
		t.Errorf("waits: got %+v, want %+v", f.Waits, want)
	}
	if r.Step != "1m0s" || len(f.Timeline) == 0 || f.Timeline[0].Time != t0 {
		t.Errorf("step %s, timeline %+v: want minutes from %s", r.Step, f.Timeline, t0)
	}
	h := (t0.In(zone).Hour())
	if r.Hours[h].Checkouts != 2 || r.Hours[h].Denials != 1 || r.Hours[(h+1)%24].Checkouts != 0 {
		t.Errorf("hours: got %+v, want the checkouts at %d:00", r.Hours, h)
	}
	if d := (int(t0.In(zone).Weekday()) + 6) % 7; r.Weekdays[d].Checkouts != 2 {
		t.Errorf("weekdays: got %+v, want the checkouts on day %d", r.Weekdays, d)
	}
	if len(r.Users) != 2 || r.Users[0].Key != "bob" || r.Users[0].HeldSeconds != 30*60 || r.Users[0].Denials != 1 {
		t.Errorf("users: got %+v", r.Users)
	}
	if len(r.Hosts) != 2 || r.Hosts[1] != (usher.UsageTotal{Key: "ws1", Checkouts: 1, HeldSeconds: 10 * 60}) {
		t.Errorf("hosts: got %+v", r.Hosts)
	}
	if r.EventsFrom != nil {
		t.Errorf("events_from %v: the log holds the whole period", r.EventsFrom)
	}
	if _, err := l.Report(context.Background(), eventlog.ReportQuery{From: t0, To: t0}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("from = to: got %v, want invalid", err)
	}
}
