package eventlog_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// BenchmarkRecordAndStore measures events stored per second: Record on
// the caller's side, then Sync until the writer has stored them all.
func BenchmarkRecordAndStore(b *testing.B) {
	l, err := eventlog.Open(eventlog.Options{Dir: b.TempDir(), Queue: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ev := usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_0123456789abcdef01234567",
		Client: usher.Client{ID: "client-1", User: "alice", Host: "ws-17", PID: 4242}, Time: time.Now()}
	b.ResetTimer()
	for range b.N {
		l.Record(ev)
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
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
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Observe(ev)
		}
	})
}
