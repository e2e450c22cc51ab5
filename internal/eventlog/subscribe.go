package eventlog

import (
	"sync"

	usher "github.com/usher-lm/usher"
)

// DefaultSubscriptionBuffer is how many events a subscriber may fall
// behind before it is dropped.
const DefaultSubscriptionBuffer = 1024

// Subscription receives stored events live. A subscriber that falls more
// than its buffer behind is dropped: its channel closes and Dropped
// reports true, so that one slow reader never holds up the server. It can
// catch up from the stored events with Query and Filter.AfterID.
type Subscription struct {
	c       chan Record
	filter  Filter
	dropped bool // set before c closes
	log     *Log
}

// Events returns the channel of events. It closes when the subscription
// ends: on Close, when the subscriber was dropped, or when the log closes.
func (s *Subscription) Events() <-chan Record { return s.c }

// Dropped reports whether the subscription ended because the subscriber
// fell behind. Read it after Events has closed.
func (s *Subscription) Dropped() bool {
	s.log.subs.mu.Lock()
	defer s.log.subs.mu.Unlock()
	return s.dropped
}

// Close ends the subscription. Safe to call twice.
func (s *Subscription) Close() {
	s.log.subs.remove(s)
	s.log.stopFollowing()
}

// Subscribe returns a subscription to the events that match f (its Types
// and Feature) and are stored from now on. buffer <= 0 means
// DefaultSubscriptionBuffer.
func (l *Log) Subscribe(f Filter, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	s := &Subscription{c: make(chan Record, buffer), filter: f, log: l}
	l.subs.mu.Lock()
	if l.subs.closed {
		l.subs.mu.Unlock()
		close(s.c)
		return s
	}
	l.subs.m[s] = struct{}{}
	l.subs.mu.Unlock()
	l.startFollowing()
	return s
}

// Subscribers returns how many subscriptions are live.
func (l *Log) Subscribers() int {
	l.subs.mu.Lock()
	defer l.subs.mu.Unlock()
	return len(l.subs.m)
}

type subscribers struct {
	mu     sync.Mutex
	m      map[*Subscription]struct{}
	closed bool
}

// publish hands the events, numbered on from first, to every subscriber
// whose filter they match.
func (ss *subscribers) publish(evs []usher.Event, first int64) {
	ss.mu.Lock()
	none := len(ss.m) == 0
	ss.mu.Unlock()
	if none { // the usual case: nothing to build for every stored batch
		return
	}
	recs := make([]Record, len(evs))
	for i := range evs {
		recs[i] = Record{ID: first + int64(i), Event: evs[i]}
	}
	ss.publishRecords(recs)
}

// publishRecords hands stored records to every subscriber whose filter
// they match.
func (ss *subscribers) publishRecords(recs []Record) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.m {
		for _, r := range recs {
			if !s.filter.Match(r.Event) {
				continue
			}
			r.Time = r.Time.UTC() // as Query returns it
			select {
			case s.c <- r:
				continue
			default:
			}
			s.dropped = true
			delete(ss.m, s)
			close(s.c)
			break
		}
	}
}

func (ss *subscribers) remove(s *Subscription) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.m[s]; !ok {
		return
	}
	delete(ss.m, s)
	close(s.c)
}

func (ss *subscribers) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.m {
		close(s.c)
	}
	ss.m = nil
	ss.closed = true
}
