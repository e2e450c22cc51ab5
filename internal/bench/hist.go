package bench

import (
	"math/bits"
	"time"
)

// Histogram buckets latencies on a log-linear scale, as HDR histograms do:
// exact below 64ns, then 32 sub-buckets per power of two, so every recorded
// value is within about 3% of the truth. Recording never allocates.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	subBits     = 5
	subCount    = 1 << subBits // sub-buckets per power of two
	linearLimit = 2 * subCount // values below this are their own bucket
	histBuckets = linearLimit + (64-subBits-1)*subCount
)

func bucketOf(v uint64) int {
	if v < linearLimit {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // keeps the top subBits+1 bits
	m := v >> shift                      // in [subCount, 2*subCount)
	return linearLimit + (shift-1)*subCount + int(m-subCount)
}

// bucketHigh returns the largest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < linearLimit {
		return uint64(i)
	}
	shift := (i-linearLimit)/subCount + 1
	m := uint64((i-linearLimit)%subCount + subCount)
	return (m+1)<<shift - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the value below which a fraction q of the recorded
// values fall (the upper edge of its bucket, never above Max), or 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.max)
		}
	}
	return h.max
}
