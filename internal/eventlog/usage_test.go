package eventlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// features is a settable stand-in for Ledger.Features.
type features struct {
	mu sync.Mutex
	fs []usher.FeatureStatus
}

func (f *features) get() []usher.FeatureStatus { f.mu.Lock(); defer f.mu.Unlock(); return f.fs }
func (f *features) set(fs ...usher.FeatureStatus) {
	f.mu.Lock()
	f.fs = fs
	f.mu.Unlock()
}

func mustUsage(tb testing.TB, l *eventlog.Log, q eventlog.UsageQuery) []eventlog.UsagePoint {
	tb.Helper()
	mustSync(tb, l)
	pts, err := l.Usage(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	return pts
}

func TestUsagePerMinute(t *testing.T) {
	clk, feats := &clock{t: t0}, &features{}
	feats.set(usher.FeatureStatus{Name: "cad", Seats: 2, InUse: 1})
	l := MustOpen(t, t.TempDir(), clk, feats.get)
	mustSync(t, l) // samples: one seat in use at 10:00

	at := func(d time.Duration) time.Time { return t0.Add(d) }
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Time: at(10 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Time: at(20 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", Time: at(30 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", Time: at(65 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Time: at(70 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Time: at(3 * time.Minute)})
	clk.Set(at(3 * time.Minute))
	feats.set(usher.FeatureStatus{Name: "cad", Seats: 2, InUse: 1})

	got := mustUsage(t, l, eventlog.UsageQuery{Feature: "cad"})
	want := []eventlog.UsagePoint{
		{Feature: "cad", Time: t0, Peak: 2, Checkouts: 1, Denials: 1},
		{Feature: "cad", Time: at(time.Minute), Peak: 1, Denials: 1},
		{Feature: "cad", Time: at(3 * time.Minute), Peak: 1, Checkouts: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	steps := mustUsage(t, l, eventlog.UsageQuery{Feature: "cad", Step: 2 * time.Minute, From: t0, To: at(time.Hour)})
	if len(steps) != 2 || steps[0].Checkouts != 1 || steps[0].Denials != 2 || steps[0].Peak != 2 {
		t.Errorf("2m steps: got %+v", steps)
	}
	if got := mustUsage(t, l, eventlog.UsageQuery{Feature: "sim"}); len(got) != 0 {
		t.Errorf("unknown feature: got %+v, want none", got)
	}
}

func TestUsageAddsAcrossFlushes(t *testing.T) {
	clk := &clock{t: t0}
	dir := t.TempDir()
	l := MustOpen(t, dir, clk, nil)
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	mustSync(t, l) // flushes the current minute
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := MustOpen(t, dir, clk, nil)
	l2.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad"})
	got := mustUsage(t, l2, eventlog.UsageQuery{})
	if len(got) != 1 || got[0].Checkouts != 2 || got[0].Denials != 1 || got[0].Peak != 2 {
		t.Fatalf("got %+v, want one minute with 2 checkouts, 1 denial, peak 2", got)
	}
}

func TestUsageQueryValidate(t *testing.T) {
	l := MustOpen(t, t.TempDir(), &clock{t: t0}, nil)
	for _, q := range []eventlog.UsageQuery{
		{Step: 90 * time.Second},
		{From: t0, To: t0},
	} {
		if _, err := l.Usage(context.Background(), q); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%+v: got %v, want %s", q, err, usher.EInvalid)
		}
	}
}
