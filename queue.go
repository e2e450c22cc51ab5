package usher

import (
	"container/list"
	"context"
	"time"
)

// waiter is a checkout waiting in line for a seat.
type waiter struct {
	req     CheckoutRequest
	since   time.Time
	elem    *list.Element   // nil once it left the line
	granted chan queueGrant // receives exactly one grant
}

type queueGrant struct {
	e     *entry
	fresh bool  // a new seat that the waiter must store; else an existing lease
	err   error // set instead of e: the waiter may not have the seat
}

// Waiter is one checkout waiting in line, as reported to admins.
type Waiter struct {
	Feature  string    `json:"feature"`
	Position int       `json:"position"`
	Client   Client    `json:"client"`
	Since    time.Time `json:"since"`
}

// enqueueLocked puts req at the end of its feature's line.
//
// Errors: ENoSeats when the line is full, ETooManyWaiters.
func (l *Ledger) enqueueLocked(req CheckoutRequest) (*waiter, error) {
	q := l.queues[req.Feature]
	if q != nil && q.Len() >= maxQueue {
		return nil, Errorf(ENoSeats, "the line for feature %s is full: try again later", req.Feature)
	}
	if err := l.waiterLimitLocked(req.Addr); err != nil {
		return nil, err
	}
	if q == nil {
		q = list.New()
		l.queues[req.Feature] = q
	}
	w := &waiter{req: req, since: l.now(), granted: make(chan queueGrant, 1)}
	w.elem = q.PushBack(w)
	l.countLocked(req.Addr, 0, 1)
	return w, nil
}

func (l *Ledger) dequeueLocked(w *waiter) {
	q := l.queues[w.req.Feature]
	q.Remove(w.elem)
	w.elem = nil
	l.countLocked(w.req.Addr, 0, -1)
	if q.Len() == 0 {
		delete(l.queues, w.req.Feature)
	}
}

// serveQueueLocked hands free seats of a feature to the head of its line,
// before any newcomer can take them.
func (l *Ledger) serveQueueLocked(feature string, at instant) {
	q := l.queues[feature]
	for q != nil && q.Len() > 0 {
		w := q.Front().Value.(*waiter)
		if e := l.byClient[clientKey{feature, w.req.Client.ID}]; e != nil && e.ending == nil {
			l.dequeueLocked(w)
			if !e.claimLocked(w.req.Owner) {
				w.granted <- queueGrant{err: clientHeldElsewhere(w.req)}
				continue
			}
			w.granted <- queueGrant{e: e}
			continue
		}
		e, err := l.grantLocked(w.req, at, true)
		if c := ErrorCode(err); c == ETooManyLeases || c == EBanned || c == EPolicyDenied || refusesWhoLocked(c) || c == EInvalid || c == EBorrowNotAllowed {
			// Its address took its fill of leases, it was banned, the
			// policy refuses it (a reserve keeps this seat for others),
			// or its terms cannot be met
			// while it waited: it cannot have this seat, the next in
			// line can.
			l.dequeueLocked(w)
			w.granted <- queueGrant{err: err}
			continue
		}
		if err != nil {
			return
		}
		l.dequeueLocked(w)
		e.storing.waited = at.wall.Sub(w.since)
		w.granted <- queueGrant{e: e, fresh: true}
	}
}

// serveQueuesLocked serves the line of every feature that has one.
func (l *Ledger) serveQueuesLocked(at instant) {
	for f := range l.queues {
		l.serveQueueLocked(f, at)
	}
}

// wait blocks a queued checkout until it is granted a seat, its wait runs
// out, or its caller goes away. denied is the error it got on arrival.
func (l *Ledger) wait(ctx context.Context, w *waiter, denied error) (Lease, bool, error) {
	wctx, cancel := context.WithTimeout(ctx, w.req.Wait)
	defer cancel()
	var g queueGrant
	select {
	case g = <-w.granted:
	case <-wctx.Done():
		l.mu.Lock()
		if w.elem != nil {
			l.dequeueLocked(w)
			l.mu.Unlock()
			if ctx.Err() != nil {
				return Lease{}, false, waitAbandoned(w.req.Feature)
			}
			return Lease{}, false, l.refuseAfter(ctx, w.req, Errorf(ENoSeats, "no seat of feature %s came free within %s: try again later or ask your admin for more seats", w.req.Feature, w.req.Wait.Round(time.Millisecond)), l.now().Sub(w.since))
		}
		l.mu.Unlock()
		g = <-w.granted // granted just as the wait ran out
	}
	if g.err != nil {
		if ErrorCode(g.err) == EPolicyDenied {
			l.emit(Event{Type: EventCheckoutDenied, Feature: w.req.Feature, Client: w.req.Client, Reason: denialReason(g.err)})
		}
		return Lease{}, false, g.err
	}
	var lease Lease
	var err error
	if g.fresh {
		lease, err = l.persist(g.e)
	} else if ls, ok, rerr := l.rejoin(g.e); ok {
		lease = ls
	} else if err = rerr; err == nil {
		err = denied
	}
	if err == nil && ctx.Err() != nil && g.fresh {
		// The caller left while the seat was being granted: give it back.
		_ = l.Release(context.WithoutCancel(ctx), lease.ID, w.req.Owner, false)
		return Lease{}, false, waitAbandoned(w.req.Feature)
	}
	return lease, err == nil && g.fresh, err
}

func waitAbandoned(feature string) error {
	return Errorf(EUnavailable, "the wait for feature %s ended before a seat came free: the client left or the server is stopping; try again", feature)
}

// Waiters returns every queued checkout, by feature and position.
func (l *Ledger) Waiters() []Waiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Waiter
	for _, f := range sortedKeys(l.queues) {
		pos := 1
		for el := l.queues[f].Front(); el != nil; el = el.Next() {
			w := el.Value.(*waiter)
			out = append(out, Waiter{Feature: f, Position: pos, Client: w.req.Client, Since: w.since})
			pos++
		}
	}
	return out
}
