package eventlog_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/sqlite"
)

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkoutEvents are what a checkout and its release record.
func checkoutEvents() [2]usher.Event {
	c := usher.Client{ID: "0b6f3c1e-7d2a-4c55-9a61-2f7e8d9c0a1b", User: "alice", Host: "ws-17", PID: 4242}
	return [2]usher.Event{
		{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_0123456789abcdef01234567", Client: c},
		{Type: usher.EventLeaseReleased, Feature: "cad", LeaseID: "ls_0123456789abcdef01234567", Client: c},
	}
}

func benchOpen(b *testing.B) *eventlog.Log {
	back, err := sqlite.OpenEvents(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	l, err := eventlog.Open(eventlog.Options{Backend: back})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkRecordAndStore measures how many events per second can be
// stored flat out, and the CPU each costs (the caller's Record plus the
// writer's share): events are recorded in runs of 1024, each waited for
// with Sync.
func BenchmarkRecordAndStore(b *testing.B) {
	l, evs := benchOpen(b), checkoutEvents()
	ctx := context.Background()
	cpu0, start := cpuTime(b), time.Now()
	b.ResetTimer()
	for i := range b.N {
		ev := evs[i%2]
		ev.Time = start.Add(time.Duration(i) * time.Microsecond)
		l.Record(ev)
		if i%1024 == 1023 || i == b.N-1 {
			if err := l.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
	if d := l.Dropped(); d > 0 {
		b.Fatalf("%d events dropped", d)
	}
}

// BenchmarkRecordAt30k records 30,000 events a second, what 15,000
// checkouts and releases a second produce, and reports the CPU each event
// costs at that pace, the writer's batching included. Run it with
// -benchtime=150000x or so: b.N events take b.N/30000 seconds.
func BenchmarkRecordAt30k(b *testing.B) {
	l, evs := benchOpen(b), checkoutEvents()
	const perMilli = 30
	cpu0, start := cpuTime(b), time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for j := 0; j < perMilli && i < b.N; j, i = j+1, i+1 {
			l.Observe(evs[i%2])
		}
		if ahead := time.Duration(i/perMilli)*time.Millisecond - time.Since(start); ahead > 0 {
			time.Sleep(ahead) // pacing, not waiting for a result
		}
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
	if d := l.Dropped(); d > 0 {
		b.Fatalf("%d events dropped", d)
	}
}

// BenchmarkObserve measures the cost the ledger pays per event: the
// queueing alone, the writer's work left out by stopping the timer while
// it stores each run of 16384 events.
func BenchmarkObserve(b *testing.B) {
	l := benchOpen(b)
	ev := checkoutEvents()[0]
	ev.Time = time.Now()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.Observe(ev)
		if i%16384 == 16383 {
			b.StopTimer()
			if err := l.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if d := l.Dropped(); d > 0 {
		b.Fatalf("%d events dropped", d)
	}
}
