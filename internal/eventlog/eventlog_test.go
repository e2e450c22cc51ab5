package eventlog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenNeedsABackend(t *testing.T) {
	if l, err := eventlog.Open(eventlog.Options{}); err == nil {
		l.Close()
		t.Fatal("opened a log with no backend, want an error")
	}
}

var (
	t0        = eventlogtest.T0
	mustSync  = eventlogtest.MustSync
	mustQuery = eventlogtest.MustQuery
)

// MustOpen opens a log on the SQLite backend in dir, closed at the end of
// the test.
func MustOpen(tb testing.TB, dir string, clk *ushertest.Clock, feats func() []usher.FeatureStatus) *eventlog.Log {
	tb.Helper()
	b, err := sqlite.OpenEvents(dir)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := eventlog.Open(eventlog.Options{Backend: b, Now: clk.Now, Features: feats, Tick: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func TestSubscribe(t *testing.T) {
	l := MustOpen(t, t.TempDir(), ushertest.NewClock(t0), nil)
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
	l := MustOpen(t, t.TempDir(), ushertest.NewClock(t0), nil)
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
	b, err := sqlite.OpenEvents(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(eventlog.Options{Backend: b})
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

func TestBatchesAreLoggedAtDebug(t *testing.T) {
	var buf bytes.Buffer // read once Close has stopped the writer
	b, err := sqlite.OpenEvents(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := eventlog.Open(eventlog.Options{Backend: b, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	l.Record(usher.Event{Type: eventlog.EventConfigChanged})
	mustSync(t, l)
	l.Close()
	if want := `level=DEBUG msg="event log: batch stored" events=1 duration=`; !strings.Contains(buf.String(), want) {
		t.Errorf("log lacks %q; got:\n%s", want, buf.String())
	}
}
