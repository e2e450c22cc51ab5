package eventlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// MustOpen opens a log in a fresh directory, closed at the end of the test.
func MustOpen(tb testing.TB, dir string, clk *clock, feats func() []usher.FeatureStatus) *eventlog.Log {
	tb.Helper()
	l, err := eventlog.Open(eventlog.Options{Dir: dir, Now: clk.Now, Features: feats, Tick: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func mustSync(tb testing.TB, l *eventlog.Log) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
}

func mustQuery(tb testing.TB, l *eventlog.Log, f eventlog.Filter) []eventlog.Record {
	tb.Helper()
	recs, err := l.Query(context.Background(), f)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

func types(recs []eventlog.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQuery(t *testing.T) {
	clk := &clock{t: t0}
	l := MustOpen(t, t.TempDir(), clk, nil)
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	clk.Set(t0.Add(time.Minute))
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_1"})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Reason: usher.ENoSeats})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "sim", LeaseID: "ls_2"})
	mustSync(t, l)

	all := mustQuery(t, l, eventlog.Filter{})
	if got, want := types(all), []string{"server_started", "lease_granted", "checkout_denied", "lease_granted"}; !equal(got, want) {
		t.Fatalf("all: got %v, want %v", got, want)
	}
	if !all[0].Time.Equal(t0) || all[0].ID >= all[1].ID {
		t.Errorf("first record %+v: want time %v and increasing ids", all[0], t0)
	}
	if got := mustQuery(t, l, eventlog.Filter{Feature: "cad"}); len(got) != 2 || got[1].Reason != usher.ENoSeats {
		t.Errorf("feature cad: got %+v", got)
	}
	if got := mustQuery(t, l, eventlog.Filter{Types: []string{"lease_granted"}, Feature: "sim"}); len(got) != 1 || got[0].LeaseID != "ls_2" {
		t.Errorf("type and feature: got %+v", got)
	}
	if got := mustQuery(t, l, eventlog.Filter{Since: t0.Add(time.Second)}); len(got) != 3 {
		t.Errorf("since: got %d events, want 3", len(got))
	}
	if got := types(mustQuery(t, l, eventlog.Filter{Limit: 2})); !equal(got, []string{"checkout_denied", "lease_granted"}) {
		t.Errorf("latest 2: got %v", got)
	}
	if got := mustQuery(t, l, eventlog.Filter{AfterID: all[2].ID}); len(got) != 1 || got[0].ID != all[3].ID {
		t.Errorf("after id: got %+v", got)
	}
	if _, err := l.Query(context.Background(), eventlog.Filter{Types: []string{"nope"}}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("bad type: got %v, want %s", err, usher.EInvalid)
	}
}

func TestEventsSurviveRestart(t *testing.T) {
	dir, clk := t.TempDir(), &clock{t: t0}
	l, err := eventlog.Open(eventlog.Options{Dir: dir, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	l.Record(usher.Event{Type: eventlog.EventServerStopped})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	l.Record(usher.Event{Type: eventlog.EventServerStarted}) // after close: ignored
	l2 := MustOpen(t, dir, clk, nil)
	l2.Record(usher.Event{Type: eventlog.EventServerStarted})
	mustSync(t, l2)
	got := mustQuery(t, l2, eventlog.Filter{})
	if len(got) != 3 || got[2].ID <= got[1].ID {
		t.Fatalf("after restart: got %+v, want 3 events with growing ids", got)
	}
}

func TestRetention(t *testing.T) {
	clk := &clock{t: t0}
	l := MustOpen(t, t.TempDir(), clk, nil)
	l.SetRetention(time.Hour, 2*time.Hour)
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	l.Record(usher.Event{Type: eventlog.EventServerStopped, Time: t0.Add(90 * time.Minute)})
	mustSync(t, l)
	clk.Set(t0.Add(2 * time.Hour))
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := types(mustQuery(t, l, eventlog.Filter{})); !equal(got, []string{"server_stopped"}) {
		t.Errorf("after retention: got %v, want only the newer event", got)
	}
}

func TestSubscribe(t *testing.T) {
	l := MustOpen(t, t.TempDir(), &clock{t: t0}, nil)
	sub := l.Subscribe(eventlog.Filter{Feature: "cad"}, 0)
	defer sub.Close()
	l.Record(usher.Event{Type: usher.EventLeaseGranted, Feature: "sim"})
	l.Record(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_1"})
	select {
	case r := <-sub.Events():
		if r.LeaseID != "ls_1" || r.ID == 0 {
			t.Errorf("got %+v, want the cad lease with an id", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	if got := l.Subscribers(); got != 1 {
		t.Errorf("subscribers: got %d, want 1", got)
	}
	sub.Close()
	sub.Close()
	if got := l.Subscribers(); got != 0 {
		t.Errorf("subscribers after close: got %d, want 0", got)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	l := MustOpen(t, t.TempDir(), &clock{t: t0}, nil)
	slow := l.Subscribe(eventlog.Filter{}, 1)
	for range 3 {
		l.Record(usher.Event{Type: eventlog.EventConfigChanged})
	}
	mustSync(t, l)
	n := 0
	for range slow.Events() {
		n++
	}
	if n != 1 || !slow.Dropped() {
		t.Errorf("got %d events and dropped=%v, want 1 event then dropped", n, slow.Dropped())
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	l, err := eventlog.Open(eventlog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(eventlog.Filter{}, 0)
	l.Close()
	if _, ok := <-sub.Events(); ok {
		t.Fatal("subscription still open after Close")
	}
	if late := l.Subscribe(eventlog.Filter{}, 0); late == nil {
		t.Fatal("nil subscription")
	} else if _, ok := <-late.Events(); ok {
		t.Fatal("subscription after Close is open")
	}
}
