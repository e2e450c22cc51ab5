package bench_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/bench"
)

func TestHistogramQuantiles(t *testing.T) {
	var h bench.Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 10000)
	for i := range vals {
		vals[i] = time.Duration(r.ExpFloat64() * float64(time.Millisecond))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff < -0.01 || diff > 0.04 {
			t.Errorf("Quantile(%v) = %v, want %v within 3%%", q, got, want)
		}
	}
	if got, want := h.Max(), vals[len(vals)-1]; got != want {
		t.Errorf("Max = %v, want %v", got, want)
	}
	if got, want := h.Count(), uint64(len(vals)); got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
}

func TestHistogramMergeAndEdges(t *testing.T) {
	var a, b bench.Histogram
	if got := a.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile = %v, want 0", got)
	}
	for i := range 100 {
		a.Record(time.Duration(i)) // exact below 64ns
		b.Record(time.Hour)
	}
	a.Merge(&b)
	if got, want := a.Quantile(0.25), time.Duration(49); got != want {
		t.Errorf("Quantile(0.25) = %v, want %v", got, want)
	}
	if got, want := a.Quantile(1), time.Hour; got != want {
		t.Errorf("Quantile(1) = %v, want %v", got, want)
	}
}

func TestHistogramNoAllocs(t *testing.T) {
	var h bench.Histogram
	if n := testing.AllocsPerRun(100, func() { h.Record(1234567) }); n != 0 {
		t.Errorf("Record allocates %v times, want 0", n)
	}
}
