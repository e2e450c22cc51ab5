package storetest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// ClockStore keeps the latest wall-clock time a server has seen, so that
// a clock set back is noticed across restarts. It is what the daemon asks
// of a store.
type ClockStore interface {
	// LatestTime returns the latest time stored; zero if none was.
	LatestTime(ctx context.Context) (time.Time, error)
	// RaiseLatestTime stores t unless a later time is stored already.
	RaiseLatestTime(ctx context.Context, t time.Time) error
}

// ClockFactory creates an empty backing medium for one test and returns a
// function that opens a ClockStore on it; each call reopens the same data.
type ClockFactory func(t *testing.T) (open func() ClockStore)

// RunClock runs the conformance suite of the latest time seen against the
// stores that newStore makes.
func RunClock(t *testing.T, newStore ClockFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() ClockStore)
	}{
		{"Empty", testClockEmpty},
		{"OnlyRises", testClockOnlyRises},
		{"ConcurrentRaises", testClockConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func openClock(t *testing.T, open func() ClockStore) ClockStore {
	t.Helper()
	s := open()
	t.Cleanup(func() { closeAny(t, s) })
	return s
}

func wantLatest(t *testing.T, s ClockStore, want time.Time) {
	t.Helper()
	got, err := s.LatestTime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Fatalf("latest time: got %s, want %s", got, want)
	}
}

func mustRaise(t *testing.T, s ClockStore, at time.Time) {
	t.Helper()
	if err := s.RaiseLatestTime(context.Background(), at); err != nil {
		t.Fatal(err)
	}
}

func testClockEmpty(t *testing.T, open func() ClockStore) {
	wantLatest(t, openClock(t, open), time.Time{})
}

// testClockOnlyRises checks that a later time replaces the stored one, an
// earlier one does not, and both survive a reopen to the nanosecond.
func testClockOnlyRises(t *testing.T, open func() ClockStore) {
	s := openClock(t, open)
	t1 := time.Date(2026, 12, 1, 5, 0, 0, 123456789, time.UTC)
	mustRaise(t, s, t1)
	wantLatest(t, s, t1)
	mustRaise(t, s, t1.Add(time.Hour))
	mustRaise(t, s, t1.Add(-24*time.Hour)) // a clock set back never lowers it
	wantLatest(t, s, t1.Add(time.Hour))
	closeAny(t, s)
	s = openClock(t, open)
	wantLatest(t, s, t1.Add(time.Hour))
}

// testClockConcurrent checks that concurrent raises leave the latest.
func testClockConcurrent(t *testing.T, open func() ClockStore) {
	s := openClock(t, open)
	base := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := s.RaiseLatestTime(context.Background(), base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wantLatest(t, s, base.Add(7*time.Second))
}
