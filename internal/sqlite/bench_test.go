package sqlite_test

import (
	"context"
	"fmt"
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
