package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/sqlite"
)

// BenchmarkPutDeletePairs measures durable lease put+delete pairs with 64
// concurrent writers sharing group commits.
func BenchmarkPutDeletePairs(b *testing.B) {
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const writers = 64
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/writers + 1
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				l := usher.Lease{ID: fmt.Sprintf("ls_%d_%d", w, i), Feature: "cad", Client: usher.Client{ID: fmt.Sprint(w)}, IssuedAt: time.Now()}
				if err := s.PutLease(ctx, l); err != nil {
					b.Error(err)
					return
				}
				if err := s.DeleteLeases(ctx, []string{l.ID}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*writers)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkEventBytes measures what an event takes in events.db: b.N
// events of checkouts and releases, as the Log stores them (batches of a
// few hundred, a millisecond apart), then the file's size divided by b.N.
// docs/events.md quotes it for -benchtime 100000x.
func BenchmarkEventBytes(b *testing.B) {
	dir := b.TempDir()
	ev, err := sqlite.OpenEvents(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]usher.Event, 0, 500)
	for i := range b.N {
		typ, lease := usher.EventLeaseGranted, usher.NewLeaseID()
		if i%2 == 1 {
			typ = usher.EventLeaseReleased
		}
		c := usher.Client{ID: fmt.Sprintf("c_%024x", i/2%5000), User: fmt.Sprintf("user%03d", i/2%300), Host: fmt.Sprintf("ws-%03d", i/2%300), PID: 10000 + i/2%5000}
		batch = append(batch, usher.Event{Type: typ, Time: t.Add(time.Duration(i) * time.Millisecond), Feature: "cad", LeaseID: lease, Client: c})
		if len(batch) == cap(batch) || i == b.N-1 {
			if _, _, err := ev.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := ev.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(b.N), "B/event")
}
