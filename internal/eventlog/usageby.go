package eventlog

import (
	"context"
	"sort"
	"time"

	usher "github.com/usher-lm/usher"
)

// What a usage report may be grouped by.
const (
	ByUser    = "user"
	ByHost    = "host"
	ByFeature = "feature"
)

// UsageTotal is the usage of one user, host or feature over a period.
type UsageTotal = usher.UsageTotal

// UsageByQuery selects a usage report grouped by user, host or feature.
// A zero To means now.
type UsageByQuery struct {
	By       string
	Feature  string
	From, To time.Time
}

// Validate returns an EInvalid error naming a bad field.
func (q UsageByQuery) Validate() error {
	switch q.By {
	case ByUser, ByHost, ByFeature:
	default:
		return usher.Errorf(usher.EInvalid, "by %q is not a grouping: use user, host or feature", q.By)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return usher.Errorf(usher.EInvalid, "from must be before to")
	}
	return nil
}

// usageByTypes are the events a grouped report reads.
var usageByTypes = []string{usher.EventLeaseGranted, usher.EventLeaseReleased, usher.EventLeaseExpired,
	usher.EventLeaseKicked, usher.EventCheckoutDenied}

// UsageBy returns the usage of every user, host or feature that checked
// out, was refused or held a lease in the period, most time held first. It
// reads the period's events page by page: events still queued are not
// seen, call Sync first.
//
// Errors: EInvalid for a bad query.
func (l *Log) UsageBy(ctx context.Context, q UsageByQuery) ([]UsageTotal, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.To.IsZero() {
		q.To = l.now()
	}
	t := newTally(q, q.By)
	if err := l.eachEvent(ctx, Filter{Since: q.From, Until: q.To, Types: usageByTypes, Feature: q.Feature}, t.add); err != nil {
		return nil, err
	}
	return t.result(), nil
}

func newTally(q UsageByQuery, by string) *tally {
	q.By = by
	return &tally{q: q, totals: map[string]*UsageTotal{}, open: map[string]time.Time{}, keys: map[string]string{}, held: map[string]time.Duration{}}
}

// tally adds up events per key.
type tally struct {
	q      UsageByQuery
	totals map[string]*UsageTotal
	open   map[string]time.Time     // lease id: when it was granted
	keys   map[string]string        // lease id: its key, for leases still open
	held   map[string]time.Duration // key: time held, in full
}

func (t *tally) key(ev usher.Event) string {
	switch t.q.By {
	case ByUser:
		return ev.Client.User
	case ByHost:
		return ev.Client.Host
	}
	return ev.Feature
}

func (t *tally) total(k string) *UsageTotal {
	u := t.totals[k]
	if u == nil {
		u = &UsageTotal{Key: k}
		t.totals[k] = u
	}
	return u
}

func (t *tally) add(ev usher.Event) {
	k := t.key(ev)
	u := t.total(k)
	switch ev.Type {
	case usher.EventLeaseGranted:
		u.Checkouts++
		t.open[ev.LeaseID], t.keys[ev.LeaseID] = ev.Time, k
		return
	case usher.EventCheckoutDenied:
		u.Denials++
		return
	case usher.EventLeaseKicked:
		u.Kicks++
	case usher.EventLeaseReleased:
		if ev.Reason == usher.ReasonLingering {
			return // its seat is held until the linger ends
		}
	}
	start, ok := t.open[ev.LeaseID]
	if !ok {
		start = t.q.From // granted before the period
	}
	delete(t.open, ev.LeaseID)
	delete(t.keys, ev.LeaseID)
	if !start.IsZero() && ev.Time.After(start) {
		t.held[k] += ev.Time.Sub(start)
	}
}

func (t *tally) result() []UsageTotal {
	for id, start := range t.open { // still held at the period's end
		if t.q.To.After(start) {
			t.held[t.keys[id]] += t.q.To.Sub(start)
		}
	}
	out := make([]UsageTotal, 0, len(t.totals))
	for k, u := range t.totals {
		u.HeldSeconds = int64(t.held[k] / time.Second)
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].HeldSeconds != out[j].HeldSeconds {
			return out[i].HeldSeconds > out[j].HeldSeconds
		}
		return out[i].Key < out[j].Key
	})
	return out
}
