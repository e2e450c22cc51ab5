package relay_test

import (
	"context"
	"slices"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/relay"
)

func TestWantedSeatsIsTheMostOverTheWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w relay.WantedSeats
	w.Observe(at(0), 5)
	w.Observe(at(10), 2)
	w.Observe(at(20), 3)
	for _, tc := range []struct{ since, want int }{
		{-1, 5}, // 5 wanted at 0 is within the window
		{0, 3},  // then the most after 0 is 3, at 20
		{20, 3}, // the last reading stands until a newer one
	} {
		if got := w.Peak(at(tc.since)); got != tc.want {
			t.Errorf("peak since %ds: got %d, want %d", tc.since, got, tc.want)
		}
	}
	w.Observe(at(30), 1)
	if got := w.Peak(at(25)); got != 1 {
		t.Errorf("peak after a drop: got %d, want 1", got)
	}
}

func TestPickIdleGivesBackWholeLeasesThatFit(t *testing.T) {
	for _, tc := range []struct {
		seats []int
		idle  int
		want  []int
	}{
		{[]int{1, 1, 1}, 2, []int{1, 1}},
		{[]int{4, 2, 1}, 3, []int{2, 1}},
		{[]int{5}, 4, nil}, // partly used: it stays
		{[]int{3, 3}, 0, nil},
		{[]int{3, 3}, -1, nil},
	} {
		if got := relay.PickIdle(tc.seats, tc.idle); !slices.Equal(got, tc.want) {
			t.Errorf("pickIdle(%v, %d): got %v, want %v", tc.seats, tc.idle, got, tc.want)
		}
	}
}

func TestNewRefusesAMissingUpstream(t *testing.T) {
	for _, cfg := range []relay.Config{{}, {Upstream: []string{relay.Auto}}} {
		if _, err := relay.New(cfg); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("New(%+v): got %v, want %s", cfg, err, usher.EInvalid)
		}
	}
}

type finder struct{ urls []string }

func (f finder) Find(context.Context) ([]string, error) { return f.urls, nil }

func TestNewTakesAutoWithAFinder(t *testing.T) {
	r, err := relay.New(relay.Config{Upstream: []string{relay.Auto}, Finder: finder{[]string{"http://127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
