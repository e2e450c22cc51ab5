package eventlog

import (
	"cmp"
	"context"
	"slices"
	"time"

	usher "github.com/usher-lm/usher"
)

// Backend stores a Log's events and usage history: an SQLite database in
// the data directory for a single node (the default), etcd for a cluster,
// so that the history survives the loss of any one node.
type Backend interface {
	// Append stores events in the order given, numbered on from the
	// highest id ever used (by any writer of the same history). It stores
	// the first n events of the batch, at least one unless it fails,
	// numbered first, first+1 …; the writer calls it again for the rest.
	// After an error, the writer tries the events not stored again, as
	// the start of its next batch. Only the Log's writer calls it.
	Append(ctx context.Context, batch []usher.Event) (first int64, n int, err error)
	// Query returns the events f selects, as Log.Query describes. f is
	// valid and its Limit set.
	Query(ctx context.Context, f Filter) ([]Record, error)
	// AddUsage merges usage per feature and minute (UsagePoint.Time is the
	// minute's start): checkouts and denials add up, the peak is the
	// larger of the stored and the new one.
	AddUsage(ctx context.Context, pts []UsagePoint) error
	// Usage returns the usage history as Log.Usage describes. q is valid.
	Usage(ctx context.Context, q UsageQuery) ([]UsagePoint, error)
	// Prune deletes events older than events and usage of minutes that
	// started before usage.
	Prune(ctx context.Context, events, usage time.Time) error
	// Close releases what the backend holds.
	Close() error
}

// Follower is a Backend that several writers share, as the nodes of a
// cluster do. A Log on one streams to its subscribers what Follow
// delivers, every writer's events, rather than only those it stored.
type Follower interface {
	// Follow calls ready with the id from which on it will see every
	// event stored, then fn with those events, batch by batch in id
	// order, as they are stored, until ctx ends. fn may see an event
	// again; the Log skips ids it has passed.
	Follow(ctx context.Context, ready func(from int64), fn func([]Record)) error
}

// Rollup sums usage per minute into steps of step (a whole number of
// minutes, at least one), by time then feature, as Log.Usage returns it:
// the peak of a step is its largest minute's, the counts add up. For
// backends that cannot aggregate themselves.
func Rollup(minutes []UsagePoint, step time.Duration) []UsagePoint {
	step = max(step, time.Minute)
	type key struct {
		t       int64
		feature string
	}
	sums := make(map[key]*UsagePoint)
	for _, p := range minutes {
		t := p.Time.Unix()
		t -= t % int64(step/time.Second)
		k := key{t, p.Feature}
		s := sums[k]
		if s == nil {
			s = &UsagePoint{Feature: p.Feature, Time: time.Unix(t, 0).UTC()}
			sums[k] = s
		}
		s.Peak = max(s.Peak, p.Peak)
		s.Checkouts += p.Checkouts
		s.Denials += p.Denials
	}
	out := make([]UsagePoint, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b UsagePoint) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Feature, b.Feature)
	})
	return out
}

// Selects reports whether a stored event passes every part of f but its
// Limit: the time bounds, AfterID, types and feature. For backends that
// filter events themselves.
func (f Filter) Selects(r *Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	case r.ID <= f.AfterID:
		return false
	}
	return f.Match(r.Event)
}

// Latest reports whether f asks for the latest events (neither Since nor
// AfterID is set) rather than the first ones after a point.
func (f Filter) Latest() bool { return f.Since.IsZero() && f.AfterID == 0 }
