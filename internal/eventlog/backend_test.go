package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
)

// flaky is a backend in memory that refuses every append while down, and
// stores at most two events per append.
type flaky struct {
	mu   sync.Mutex
	down bool
	recs []eventlog.Record
}

func (f *flaky) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *flaky) Append(_ context.Context, batch []usher.Event) (int64, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, 0, errors.New("the store is down")
	}
	first, n := int64(len(f.recs)+1), min(len(batch), 2)
	for i, ev := range batch[:n] {
		f.recs = append(f.recs, eventlog.Record{ID: first + int64(i), Event: ev})
	}
	return first, n, nil
}

func (f *flaky) Query(context.Context, eventlog.Filter) ([]eventlog.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]eventlog.Record(nil), f.recs...), nil
}

func (f *flaky) AddUsage(context.Context, []eventlog.UsagePoint) error { return nil }
func (f *flaky) Usage(context.Context, eventlog.UsageQuery) ([]eventlog.UsagePoint, error) {
	return nil, nil
}
func (f *flaky) Prune(context.Context, time.Time, time.Time) error { return nil }
func (f *flaky) Close() error                                      { return nil }

// TestEventsWaitForTheBackend checks that events the backend refuses are
// kept and stored, once each and in order, when it is back, and that
// Sync says they are not stored meanwhile.
func TestEventsWaitForTheBackend(t *testing.T) {
	b := &flaky{down: true}
	l, err := eventlog.Open(eventlog.Options{Backend: b, Tick: time.Hour, Now: ushertest.NewClock(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sub := l.Subscribe(eventlog.Filter{}, 0)
	defer sub.Close()
	for i := range 5 {
		l.Record(usher.Event{Type: eventlog.EventLoginFailed, Reason: fmt.Sprint(i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Sync(ctx); usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("Sync while the backend is down: got %v, want %s", err, usher.EUnavailable)
	}
	l.Record(usher.Event{Type: eventlog.EventLoginFailed, Reason: "5"})
	b.setDown(false)
	mustSync(t, l)
	got := mustQuery(t, l, eventlog.Filter{})
	if len(got) != 6 {
		t.Fatalf("stored %d events, want 6: %+v", len(got), got)
	}
	for i, r := range got {
		if r.Reason != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v, want reason %d", i, r, i)
		}
		if s := <-sub.Events(); s != r {
			t.Fatalf("streamed %+v, stored %+v", s, r)
		}
	}
	if l.Dropped() != 0 {
		t.Errorf("dropped %d events, want none", l.Dropped())
	}
}

// TestHeldEventsAreBounded checks that while the backend is down, the
// events kept for it are bounded by the queue, the oldest going first.
func TestHeldEventsAreBounded(t *testing.T) {
	b := &flaky{down: true}
	l, err := eventlog.Open(eventlog.Options{Backend: b, Tick: time.Hour, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 10 {
		l.Record(usher.Event{Type: eventlog.EventLoginFailed, Reason: fmt.Sprint(i)})
		_ = l.Sync(ctx) // fails: the backend is down
	}
	b.setDown(false)
	mustSync(t, l)
	got := mustQuery(t, l, eventlog.Filter{})
	if len(got) != 4 || got[0].Reason != "6" || l.Dropped() != 6 {
		t.Fatalf("stored %+v and dropped %d; want the newest 4 (6..9) and 6 dropped", got, l.Dropped())
	}
}

// TestHeldEventsAreBoundedInBytes records events of 4 KiB while the
// backend is down: what the log keeps for it stays within QueueBytes, the
// rest is dropped and counted, and the log says so once, not per event.
func TestHeldEventsAreBoundedInBytes(t *testing.T) {
	const size, maxBytes, events = 4 << 10, 64 << 10, 1000
	b := &flaky{down: true}
	log := &ushertest.Buffer{}
	clk := ushertest.NewClock(t0)
	l, err := eventlog.Open(eventlog.Options{Backend: b, Tick: time.Hour, QueueBytes: maxBytes, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := strings.Repeat("x", size)
	for range events {
		l.Record(usher.Event{Type: eventlog.EventLoginFailed, Reason: big})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = l.Sync(ctx) // fails: the backend is down
	b.setDown(false)
	mustSync(t, l)
	stored := len(mustQuery(t, l, eventlog.Filter{Limit: events}))
	if stored == 0 || stored*size > maxBytes || uint64(stored)+l.Dropped() != events {
		t.Errorf("stored %d events of %d bytes and dropped %d; want at most %d bytes stored and the other events dropped",
			stored, size, l.Dropped(), maxBytes)
	}
	if n := strings.Count(log.String(), "dropping events"); n != 1 {
		t.Errorf("the log says %d times that events are dropped, want once:\n%s", n, log)
	}
	clk.Advance(time.Minute)
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the end of the drops logged", func() bool {
		return strings.Contains(log.String(), fmt.Sprintf("no more events dropped\" dropped=%d", l.Dropped()))
	}))
}
