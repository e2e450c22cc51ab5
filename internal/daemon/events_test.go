package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
)

// brokenEvents is an event backend whose every write fails, as a full
// disk makes events.db fail.
type brokenEvents struct{}

var errDiskFull = errors.New("database or disk is full")

func (brokenEvents) Append(context.Context, []usher.Event) (int64, int, error) {
	return 0, 0, errDiskFull
}
func (brokenEvents) Query(context.Context, eventlog.Filter) ([]eventlog.Record, error) {
	return nil, errDiskFull
}
func (brokenEvents) AddUsage(context.Context, []eventlog.UsagePoint) error { return errDiskFull }
func (brokenEvents) Usage(context.Context, eventlog.UsageQuery) ([]eventlog.UsagePoint, error) {
	return nil, errDiskFull
}
func (brokenEvents) Prune(context.Context, time.Time, time.Time) error { return errDiskFull }
func (brokenEvents) Close() error                                      { return nil }

// TestCheckoutsGoOnWhenEventsCannotBeStored serves checkouts and releases
// while the event log cannot write anything: every one succeeds, the
// events past the queue's bytes are dropped and counted in the metrics,
// and the log says so once.
func TestCheckoutsGoOnWhenEventsCannotBeStored(t *testing.T) {
	var log ushertest.Buffer
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Events: func(o *eventlog.Options) { o.Backend, o.QueueBytes = brokenEvents{}, 8<<10 },
	})
	ctx := context.Background()
	const cycles = 100
	for i := range cycles {
		l := checkout(t, c, fmt.Sprint("app-", i), "alice")
		if err := c.Release(ctx, l.ID); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	text, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^usher_events_dropped_total (\d+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("metrics lack usher_events_dropped_total:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 || n >= 2*cycles {
		t.Errorf("usher_events_dropped_total %d, want some but not all of the %d events", n, 2*cycles)
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the drops logged", func() bool {
		return regexp.MustCompile(`dropping events`).MatchString(log.String())
	}))
	if n := len(regexp.MustCompile(`dropping events`).FindAllString(log.String(), -1)); n != 1 {
		t.Errorf("the log says %d times that events are dropped, want once", n)
	}
}
