package eventlog_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordAndStore measures events stored per second and the CPU
// each costs (the caller's Record plus the writer's share): Record on the
// caller's side, then Sync until the writer has stored them all. The events
// are what a checkout and its release produce.
func BenchmarkRecordAndStore(b *testing.B) {
	l, err := eventlog.Open(eventlog.Options{Dir: b.TempDir(), Queue: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := usher.Client{ID: "0b6f3c1e-7d2a-4c55-9a61-2f7e8d9c0a1b", User: "alice", Host: "ws-17", PID: 4242}
	evs := [2]usher.Event{
		{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_0123456789abcdef01234567", Client: c},
		{Type: usher.EventLeaseReleased, Feature: "cad", LeaseID: "ls_0123456789abcdef01234567", Client: c},
	}
	cpu0, start := cpuTime(b), time.Now()
	b.ResetTimer()
	for i := range b.N {
		ev := evs[i%2]
		ev.Time = start.Add(time.Duration(i) * time.Microsecond)
		l.Record(ev)
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
	if d := l.Dropped(); d > 0 {
		b.Fatalf("%d events dropped", d)
	}
}

// BenchmarkObserve measures the cost the ledger pays per event.
func BenchmarkObserve(b *testing.B) {
	l, err := eventlog.Open(eventlog.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ev := usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Time: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Observe(ev)
		}
	})
}
