// Package eventlogtest is the conformance suite of event log backends: the
// event log on its SQLite database and on etcd runs the same tests.
package eventlogtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
)

// Factory creates an empty backing medium for one test and returns a
// function that opens a log on it with the options given (it fills in
// Backend). Each call opens the same history, so the suite may close a
// log and open it again, or open two at once, as two nodes of a cluster
// do.
type Factory func(t *testing.T) (open func(eventlog.Options) (*eventlog.Log, error))

// Run runs the suite against the logs that newLog makes. shared says that
// several logs may be open on one history at once, as in a cluster.
func Run(t *testing.T, newLog Factory, shared bool) {
	tests := []struct {
		name string
		fn   func(*testing.T, opener)
	}{
		{"Query", testQuery},
		{"SurviveReopen", testSurviveReopen},
		{"Retention", testRetention},
		{"IDsNotReusedAfterRetention", testIDsNotReused},
		{"SinceWithTimesOutOfOrder", testSinceOutOfOrder},
		{"ManyWritersOneSequence", testManyWriters},
		{"TwoLogsOneHistory", testTwoLogs},
		{"UsagePerMinute", testUsagePerMinute},
		{"UsageAddsAcrossFlushes", testUsageAdds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "TwoLogsOneHistory" && !shared {
				t.Skip("one log at a time on this backend")
			}
			tt.fn(t, opener(newLog(t)))
		})
	}
}

// opener opens logs on one test's medium.
type opener func(eventlog.Options) (*eventlog.Log, error)

// must opens a log with a clock and an hour's tick (so only Sync and
// Close flush usage), closed at the end of the test.
func (o opener) must(tb testing.TB, clk *ushertest.Clock, feats func() []usher.FeatureStatus) *eventlog.Log {
	tb.Helper()
	l, err := o(eventlog.Options{Now: clk.Now, Features: feats, Tick: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// T0 is when the tests' clocks start.
var T0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// OpenSQLite opens a log with a clock on an SQLite event database in
// dir, with an hour's tick, closed at the end of the test.
func OpenSQLite(tb testing.TB, dir string, clk *ushertest.Clock) *eventlog.Log {
	tb.Helper()
	b, err := sqlite.OpenEvents(dir)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := eventlog.Open(eventlog.Options{Backend: b, Now: clk.Now, Tick: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// MustSync waits until everything recorded is stored.
func MustSync(tb testing.TB, l *eventlog.Log) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
}

// MustQuery queries the log.
func MustQuery(tb testing.TB, l *eventlog.Log, f eventlog.Filter) []eventlog.Record {
	tb.Helper()
	recs, err := l.Query(context.Background(), f)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// Types returns the records' types.
func Types(recs []eventlog.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func testQuery(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l := open.must(t, clk, nil)
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	clk.Set(T0.Add(time.Minute))
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_1",
		Client: usher.Client{ID: "c1", User: "alice", Host: "ws-17", PID: 42}})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Reason: usher.ENoSeats, WaitedMS: 1500})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "sim", LeaseID: "ls_2", LicenseID: "lic_1"})
	MustSync(t, l)

	all := MustQuery(t, l, eventlog.Filter{})
	if got, want := Types(all), []string{"server_started", "lease_granted", "checkout_denied", "lease_granted"}; !slices.Equal(got, want) {
		t.Fatalf("all: got %v, want %v", got, want)
	}
	if !all[0].Time.Equal(T0) || all[0].ID >= all[1].ID {
		t.Errorf("first record %+v: want time %v and increasing ids", all[0], T0)
	}
	want := eventlog.Record{ID: all[1].ID, Event: usher.Event{Type: usher.EventLeaseGranted, Time: T0.Add(time.Minute), Feature: "cad",
		LeaseID: "ls_1", Client: usher.Client{ID: "c1", User: "alice", Host: "ws-17", PID: 42}}}
	if all[1] != want {
		t.Errorf("stored %+v, want every field back: %+v", all[1], want)
	}
	if got := MustQuery(t, l, eventlog.Filter{Feature: "cad"}); len(got) != 2 || got[1].Reason != usher.ENoSeats || got[1].WaitedMS != 1500 {
		t.Errorf("feature cad: got %+v", got)
	}
	if got := MustQuery(t, l, eventlog.Filter{Types: []string{"lease_granted"}, Feature: "sim"}); len(got) != 1 || got[0].LicenseID != "lic_1" {
		t.Errorf("type and feature: got %+v", got)
	}
	if got := MustQuery(t, l, eventlog.Filter{Since: T0.Add(time.Second)}); len(got) != 3 {
		t.Errorf("since: got %d events, want 3", len(got))
	}
	if got := MustQuery(t, l, eventlog.Filter{Since: T0, Until: T0.Add(time.Second)}); len(got) != 1 {
		t.Errorf("since and until: got %d events, want 1", len(got))
	}
	if got := MustQuery(t, l, eventlog.Filter{Until: T0.Add(time.Second)}); len(got) != 1 {
		t.Errorf("until: got %d events, want 1", len(got))
	}
	if got := Types(MustQuery(t, l, eventlog.Filter{Limit: 2})); !slices.Equal(got, []string{"checkout_denied", "lease_granted"}) {
		t.Errorf("latest 2: got %v", got)
	}
	if got := MustQuery(t, l, eventlog.Filter{AfterID: all[0].ID, Limit: 2}); len(got) != 2 || got[0].ID != all[1].ID {
		t.Errorf("first 2 after id: got %+v", got)
	}
	if got := MustQuery(t, l, eventlog.Filter{AfterID: all[2].ID}); len(got) != 1 || got[0].ID != all[3].ID {
		t.Errorf("after id: got %+v", got)
	}
	if got := MustQuery(t, l, eventlog.Filter{AfterID: all[3].ID}); len(got) != 0 {
		t.Errorf("after the last id: got %+v", got)
	}
	if _, err := l.Query(context.Background(), eventlog.Filter{Types: []string{"nope"}}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("bad type: got %v, want %s", err, usher.EInvalid)
	}
}

func testSurviveReopen(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l, err := open(eventlog.Options{Now: clk.Now})
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
	l2 := open.must(t, clk, nil)
	l2.Record(usher.Event{Type: eventlog.EventServerStarted})
	MustSync(t, l2)
	got := MustQuery(t, l2, eventlog.Filter{})
	if len(got) != 3 || got[2].ID <= got[1].ID {
		t.Fatalf("after reopening: got %+v, want 3 events with growing ids", got)
	}
}

func testRetention(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l := open.must(t, clk, nil)
	l.SetRetention(time.Hour, 2*time.Hour)
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	l.Record(usher.Event{Type: eventlog.EventServerStopped, Time: T0.Add(90 * time.Minute)})
	MustSync(t, l)
	clk.Set(T0.Add(2 * time.Hour))
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := Types(MustQuery(t, l, eventlog.Filter{})); !slices.Equal(got, []string{"server_stopped"}) {
		t.Errorf("after retention: got %v, want only the newer event", got)
	}
}

// testIDsNotReused empties the log by retention and checks that numbering
// goes on, also after reopening.
func testIDsNotReused(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l, err := open(eventlog.Options{Now: clk.Now, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.Record(usher.Event{Type: eventlog.EventConfigChanged})
	}
	MustSync(t, l)
	clk.Set(T0.Add(2 * time.Hour))
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := MustQuery(t, l, eventlog.Filter{}); len(got) != 0 {
		t.Fatalf("after retention: got %+v, want none", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := open.must(t, clk, nil)
	l2.Record(usher.Event{Type: eventlog.EventServerStarted})
	MustSync(t, l2)
	if got := MustQuery(t, l2, eventlog.Filter{}); len(got) != 1 || got[0].ID != 4 {
		t.Fatalf("after reopening: got %+v, want one event with id 4", got)
	}
}

// testSinceOutOfOrder stores events whose times do not follow their ids,
// as when two checkouts take their time and then queue their events in
// the other order, and checks that since and retention see every one.
func testSinceOutOfOrder(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l := open.must(t, clk, nil)
	l.SetRetention(time.Hour, 0)
	minutes := []int{0, 10, 5, 20, 15, 30, 25, 40, 35}
	for _, m := range minutes {
		l.Record(usher.Event{Type: eventlog.EventConfigChanged, Time: T0.Add(time.Duration(m) * time.Minute)})
		MustSync(t, l) // one batch each, so that the order spans batches
	}
	for _, since := range []int{0, 5, 12, 15, 16, 30, 35, 41} {
		want := 0
		for _, m := range minutes {
			if m >= since {
				want++
			}
		}
		got := MustQuery(t, l, eventlog.Filter{Since: T0.Add(time.Duration(since) * time.Minute)})
		if len(got) != want {
			t.Errorf("since minute %d: got %d events, want %d", since, len(got), want)
		}
		for _, r := range got {
			if r.Time.Before(T0.Add(time.Duration(since) * time.Minute)) {
				t.Errorf("since minute %d: got an event at %v", since, r.Time)
			}
		}
	}
	clk.Set(T0.Add(time.Hour + 21*time.Minute)) // keeps minute 21 on
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := MustQuery(t, l, eventlog.Filter{})
	for _, r := range got {
		if r.Time.Before(T0.Add(21 * time.Minute)) {
			t.Errorf("after retention: an event at %v is left", r.Time)
		}
	}
	if len(got) != 4 { // 30, 25, 40, 35
		t.Errorf("after retention: got %d events, want 4", len(got))
	}
}

// testManyWriters records from several goroutines at once and checks that
// every event is stored and streamed once, with ids that go up by one,
// whatever the size of the writer's batches.
func testManyWriters(t *testing.T, open opener) {
	l := open.must(t, ushertest.NewClock(T0), nil)
	sub := l.Subscribe(eventlog.Filter{}, 1<<14)
	defer sub.Close()
	const writers, each = 4, 777
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: fmt.Sprintf("ls_%d_%d", w, i),
					Client: usher.Client{ID: "c", PID: w + 1}})
			}
		}()
	}
	wg.Wait()
	MustSync(t, l)
	got := MustQuery(t, l, eventlog.Filter{Limit: eventlog.MaxLimit})
	if len(got) != writers*each {
		t.Fatalf("stored %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for i, r := range got {
		if r.ID != int64(i+1) || seen[r.LeaseID] || r.Client.PID == 0 {
			t.Fatalf("event %d: %+v (ids must go up by one, each lease once)", i, r)
		}
		seen[r.LeaseID] = true
		select {
		case s := <-sub.Events():
			if s != r {
				t.Fatalf("streamed %+v, stored %+v", s, r)
			}
		default:
			t.Fatalf("event %d stored but not streamed", r.ID)
		}
	}
}

// testTwoLogs writes through two logs on one history at once, as two
// nodes of a cluster do, and checks that no id is used twice and each
// sees every event.
func testTwoLogs(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	a, b := open.must(t, clk, nil), open.must(t, clk, nil)
	sub := a.Subscribe(eventlog.Filter{}, 1<<12)
	defer sub.Close()
	const each = 300
	var wg sync.WaitGroup
	for _, l := range []*eventlog.Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Record(usher.Event{Type: eventlog.EventLoginFailed, Reason: fmt.Sprint(i)})
				if i%50 == 0 {
					MustSync(t, l)
				}
			}
			MustSync(t, l)
		}()
	}
	wg.Wait()
	for _, l := range []*eventlog.Log{a, b} {
		got := MustQuery(t, l, eventlog.Filter{Limit: eventlog.MaxLimit})
		if len(got) != 2*each {
			t.Fatalf("got %d events, want %d", len(got), 2*each)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Fatalf("ids %d then %d: each id once, in order", got[i-1].ID, got[i].ID)
			}
		}
	}
	// a streams every event, b's too, in order: sync a after b's last.
	MustSync(t, b)
	b.Record(usher.Event{Type: eventlog.EventServerStopped})
	MustSync(t, b)
	want := MustQuery(t, a, eventlog.Filter{Limit: eventlog.MaxLimit})
	deadline := time.After(10 * time.Second)
	for i, r := range want {
		select {
		case s, ok := <-sub.Events():
			if !ok || s != r {
				t.Fatalf("streamed event %d: %+v, want %+v", i, s, r)
			}
		case <-deadline:
			t.Fatalf("streamed %d of %d events", i, len(want))
		}
	}
}

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

// MustUsage syncs the log and queries its usage.
func MustUsage(tb testing.TB, l *eventlog.Log, q eventlog.UsageQuery) []eventlog.UsagePoint {
	tb.Helper()
	MustSync(tb, l)
	pts, err := l.Usage(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	return pts
}

func testUsagePerMinute(t *testing.T, open opener) {
	clk, feats := ushertest.NewClock(T0), &features{}
	feats.set(usher.FeatureStatus{Name: "cad", Seats: 2, InUse: 1})
	l := open.must(t, clk, feats.get)
	MustSync(t, l) // samples: one seat in use at 10:00

	at := func(d time.Duration) time.Time { return T0.Add(d) }
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Time: at(10 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Time: at(20 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", Time: at(30 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseReleased, Feature: "cad", Time: at(65 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Time: at(70 * time.Second)})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Time: at(3 * time.Minute)})
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "sim", Time: at(61 * time.Minute)})
	clk.Set(at(61 * time.Minute))
	feats.set(usher.FeatureStatus{Name: "cad", Seats: 2, InUse: 1}, usher.FeatureStatus{Name: "sim", Unlimited: true, InUse: 1})

	got := MustUsage(t, l, eventlog.UsageQuery{Feature: "cad"})
	want := []eventlog.UsagePoint{
		{Feature: "cad", Time: T0, Peak: 2, Checkouts: 1, Denials: 1},
		{Feature: "cad", Time: at(time.Minute), Peak: 1, Denials: 1},
		{Feature: "cad", Time: at(3 * time.Minute), Peak: 1, Checkouts: 1},
		{Feature: "cad", Time: at(61 * time.Minute), Peak: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	steps := MustUsage(t, l, eventlog.UsageQuery{Feature: "cad", Step: 2 * time.Minute, From: T0, To: at(time.Hour)})
	if len(steps) != 2 || steps[0].Checkouts != 1 || steps[0].Denials != 2 || steps[0].Peak != 2 {
		t.Errorf("2m steps: got %+v", steps)
	}
	hours := MustUsage(t, l, eventlog.UsageQuery{Step: time.Hour, From: T0})
	wantHours := []eventlog.UsagePoint{
		{Feature: "cad", Time: T0, Peak: 2, Checkouts: 2, Denials: 2},
		{Feature: "cad", Time: at(time.Hour), Peak: 1},
		{Feature: "sim", Time: at(time.Hour), Peak: 1, Checkouts: 1},
	}
	if !slices.Equal(hours, wantHours) {
		t.Errorf("1h steps: got %+v, want %+v", hours, wantHours)
	}
	if got := MustUsage(t, l, eventlog.UsageQuery{From: at(2 * time.Minute), To: at(4 * time.Minute)}); len(got) != 1 || !got[0].Time.Equal(at(3*time.Minute)) {
		t.Errorf("from and to: got %+v, want minute 3 only", got)
	}
	if got := MustUsage(t, l, eventlog.UsageQuery{Feature: "nope"}); len(got) != 0 {
		t.Errorf("unknown feature: got %+v, want none", got)
	}
	l.SetRetention(0, time.Hour)
	feats.set()
	clk.Set(at(2*time.Hour + 30*time.Minute))
	MustSync(t, l) // the minutes held in memory are over: stored and forgotten
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := MustUsage(t, l, eventlog.UsageQuery{}); len(got) != 0 {
		t.Errorf("after retention: got %+v, want none", got)
	}
}

func testUsageAdds(t *testing.T, open opener) {
	clk := ushertest.NewClock(T0)
	l := open.must(t, clk, nil)
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	MustSync(t, l) // flushes the current minute
	l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := open.must(t, clk, nil)
	l2.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad"})
	got := MustUsage(t, l2, eventlog.UsageQuery{})
	if len(got) != 1 || got[0].Checkouts != 2 || got[0].Denials != 1 || got[0].Peak != 2 {
		t.Fatalf("got %+v, want one minute with 2 checkouts, 1 denial, peak 2", got)
	}
}
