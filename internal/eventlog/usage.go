package eventlog

import (
	"context"
	"time"

	usher "github.com/usher-lm/usher"
)

// UsagePoint is the usage of one feature over one step of time.
type UsagePoint struct {
	Feature   string    `json:"feature"`
	Time      time.Time `json:"time"`      // start of the step
	Peak      int       `json:"peak"`      // most seats in use at once
	Checkouts int       `json:"checkouts"` // leases granted
	Denials   int       `json:"denials"`   // checkouts refused
}

// UsageQuery selects usage history. From and To are rounded down to the
// minute; Step is a whole number of minutes (default one).
type UsageQuery struct {
	Feature  string
	From, To time.Time
	Step     time.Duration
}

// Validate returns an EInvalid error naming a bad field.
func (q UsageQuery) Validate() error {
	if q.Step < 0 || q.Step%time.Minute != 0 {
		return usher.Errorf(usher.EInvalid, "step must be a whole number of minutes, like \"1m\" or \"1h\"")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return usher.Errorf(usher.EInvalid, "from must be before to")
	}
	return nil
}

// Usage returns the usage history, by time then feature. Steps in which a
// feature had no seat in use and no checkout or denial are left out. Usage
// still being counted is not seen: call Sync first.
//
// Errors: EInvalid for a bad query.
func (l *Log) Usage(ctx context.Context, q UsageQuery) ([]UsagePoint, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return l.backend.Usage(ctx, q)
}

// usageAgg counts usage per feature and minute in memory until flushed.
// Only the writer goroutine touches it.
type usageAgg struct {
	inUse   map[string]int
	limit   map[string]int // seats of a feature at the last sample; -1 unlimited
	buckets map[bucketKey]*bucket
}

type bucketKey struct {
	feature string
	minute  int64 // Unix seconds of the minute's start
}

type bucket struct{ peak, checkouts, denials int }

func newUsageAgg() *usageAgg {
	return &usageAgg{inUse: map[string]int{}, limit: map[string]int{}, buckets: map[bucketKey]*bucket{}}
}

func minuteOf(t time.Time) int64 { return t.Unix() - t.Unix()%60 }

func (u *usageAgg) bucket(feature string, t time.Time) *bucket {
	k := bucketKey{feature, minuteOf(t)}
	b := u.buckets[k]
	if b == nil {
		b = &bucket{peak: u.inUse[feature]}
		u.buckets[k] = b
	}
	return b
}

// observe counts one event. Seats in use follow the lease events between
// samples, never above the feature's seats.
func (u *usageAgg) observe(ev *usher.Event) {
	switch ev.Type {
	case usher.EventLeaseGranted:
		n := u.inUse[ev.Feature] + 1
		if ev.InUse > 0 {
			n = ev.InUse // exact: events of other leases may come late
		} else if lim, ok := u.limit[ev.Feature]; ok && lim >= 0 {
			n = min(n, lim)
		}
		u.inUse[ev.Feature] = n
		b := u.bucket(ev.Feature, ev.Time)
		b.checkouts++
		b.peak = max(b.peak, n)
	case usher.EventLeaseReleased, usher.EventLeaseExpired, usher.EventLeaseKicked:
		u.bucket(ev.Feature, ev.Time) // the seat counted in this minute's peak
		u.inUse[ev.Feature] = max(u.inUse[ev.Feature]-1, 0)
	case usher.EventCheckoutDenied:
		u.bucket(ev.Feature, ev.Time).denials++
	}
}

// sample sets seats in use from the ledger, correcting any drift.
func (u *usageAgg) sample(features []usher.FeatureStatus, now time.Time) {
	for _, f := range features {
		u.inUse[f.Name] = f.InUse
		u.limit[f.Name] = f.Seats
		if f.Unlimited {
			u.limit[f.Name] = -1
		}
		if f.InUse > 0 {
			b := u.bucket(f.Name, now)
			b.peak = max(b.peak, f.InUse)
		}
	}
}

func (l *Log) sample() {
	if l.feats != nil {
		l.usage.sample(l.feats(), l.now())
	}
}

// flushUsage adds the counted usage to the backend. Minutes that are over
// are forgotten; with all, the current minute is stored too and counts on
// from zero (the backend adds counts and keeps the larger peak).
func (l *Log) flushUsage(ctx context.Context, all bool) error {
	current := minuteOf(l.now())
	var done []bucketKey
	var pts []UsagePoint
	for k, b := range l.usage.buckets {
		if all || k.minute < current {
			done = append(done, k)
			pts = append(pts, UsagePoint{Feature: k.feature, Time: time.Unix(k.minute, 0).UTC(), Peak: b.peak, Checkouts: b.checkouts, Denials: b.denials})
		}
	}
	if len(done) == 0 {
		return nil
	}
	if err := l.backend.AddUsage(ctx, pts); err != nil {
		return err
	}
	for _, k := range done {
		if k.minute < current {
			delete(l.usage.buckets, k)
			continue
		}
		b := l.usage.buckets[k]
		b.checkouts, b.denials = 0, 0
	}
	return nil
}
