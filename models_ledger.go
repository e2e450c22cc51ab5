package usher

import (
	"context"
	"fmt"
	"time"
)

// ledgerModels is the ledger's accounting of leases with terms, guarded by
// the ledger's lock. Plain leases never reach it.
type ledgerModels struct {
	shares    map[clientKey]*share // by feature and LeaseTerms.Seat
	verUse    map[clientKey]int    // seats by feature and version
	verTotal  map[string]int       // seats by feature counted in some version
	borrowed  map[*entry]struct{}
	lingering map[*entry]struct{}
	nBorrowed map[string]int // by feature
	nLinger   map[string]int // by feature
}

// share is a seat (or seats) that leases with one scope key share.
type share struct {
	n       int    // leases sharing it
	seats   int    // seats it holds
	version string // the version they count against
}

func newLedgerModels() ledgerModels {
	return ledgerModels{
		shares: make(map[clientKey]*share), verUse: make(map[clientKey]int), verTotal: make(map[string]int),
		borrowed: make(map[*entry]struct{}), lingering: make(map[*entry]struct{}),
		nBorrowed: make(map[string]int), nLinger: make(map[string]int),
	}
}

// versionUsedLocked returns the seats of feature counted against version;
// those of "" are the ones no version counts.
func (m *ledgerModels) versionUsedLocked(l *Ledger, feature, version string) int {
	if version == "" {
		return l.inUse[feature] - m.verTotal[feature]
	}
	return m.verUse[clientKey{feature, version}]
}

// attachLocked counts a lease with terms and returns the seats it takes:
// none when it joins a shared seat.
func (l *Ledger) attachLocked(e *entry) int {
	m, t, f := &l.models, e.lease.LeaseTerms, e.lease.Feature
	e.terms = true
	taken := t.seats()
	if t.Seat != "" {
		k := clientKey{f, t.Seat}
		if sh := m.shares[k]; sh != nil {
			sh.n++
			taken = 0
		} else {
			m.shares[k] = &share{n: 1, seats: taken, version: t.Version}
		}
	}
	if t.Version != "" && taken > 0 {
		m.verUse[clientKey{f, t.Version}] += taken
		m.verTotal[f] += taken
	}
	switch {
	case !t.BorrowedUntil.IsZero():
		m.borrowed[e] = struct{}{}
		m.nBorrowed[f]++
		e.offList, e.lease.ExpiresAt = true, t.BorrowedUntil
	case !t.LingerUntil.IsZero():
		m.lingering[e] = struct{}{}
		m.nLinger[f]++
		e.offList, e.lease.ExpiresAt = true, t.LingerUntil
	}
	return taken
}

// detachLocked stops counting a lease with terms and returns the seats
// that come free: none while others share its seat.
func (l *Ledger) detachLocked(e *entry) int {
	m, t, f := &l.models, e.lease.LeaseTerms, e.lease.Feature
	freed, version := t.seats(), t.Version
	if t.Seat != "" {
		k := clientKey{f, t.Seat}
		if sh := m.shares[k]; sh != nil {
			if sh.n--; sh.n > 0 {
				freed = 0
			} else {
				delete(m.shares, k)
				freed, version = sh.seats, sh.version
			}
		}
	}
	if version != "" && freed > 0 {
		k := clientKey{f, version}
		if m.verUse[k] -= freed; m.verUse[k] <= 0 {
			delete(m.verUse, k)
		}
		if m.verTotal[f] -= freed; m.verTotal[f] <= 0 {
			delete(m.verTotal, f)
		}
	}
	if _, ok := m.borrowed[e]; ok {
		delete(m.borrowed, e)
		decr(m.nBorrowed, f)
	}
	l.unlingerLocked(e)
	return freed
}

func decr(m map[string]int, k string) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// unlingerLocked takes e off the lingering set, if on it.
func (l *Ledger) unlingerLocked(e *entry) {
	if _, ok := l.models.lingering[e]; ok {
		delete(l.models.lingering, e)
		decr(l.models.nLinger, e.lease.Feature)
	}
}

// lingerForLocked returns how long e's seat stays with its client after a
// release: the larger of what the feature's grants and the admin's policy
// say, and 0 for a borrowed lease.
func (l *Ledger) lingerForLocked(e *entry) time.Duration {
	var d time.Duration
	if p := l.pools[e.lease.Feature]; p != nil && p.models != nil {
		d = p.models.linger
	}
	if l.policy != nil {
		if fp := l.policy.features[e.lease.Feature]; fp != nil {
			d = max(d, fp.linger)
		}
	}
	if d == 0 || !e.lease.BorrowedUntil.IsZero() {
		return 0 // the plain release
	}
	return d
}

// releaseLingering ends a client's use of e, already marked as ending,
// but keeps its seat counted for d: it stores the lease with its linger
// end, and the sweeper frees the seat after it.
func (l *Ledger) releaseLingering(ctx context.Context, e *entry, d time.Duration) error {
	err := l.waitDurable(e)
	l.mu.Lock()
	ls := e.lease
	ls.LingerUntil = l.tick().wall.Add(d)
	l.mu.Unlock()
	if err == nil {
		err = l.store.PutLease(context.WithoutCancel(ctx), ls)
	}
	l.mu.Lock()
	if err == nil && l.leases[ls.ID] == e {
		l.expiry.remove(e)
		e.lease.LingerUntil = ls.LingerUntil
		l.attachLingerLocked(e)
	}
	close(e.ending)
	e.ending = nil
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.emit(Event{Type: EventLeaseReleased, Feature: ls.Feature, LeaseID: ls.ID, Client: ls.Client, Reason: ReasonLingering})
	return nil
}

// attachLingerLocked puts e, whose LingerUntil was just set, among the
// lingering leases.
func (l *Ledger) attachLingerLocked(e *entry) {
	e.terms, e.offList, e.lease.ExpiresAt = true, true, e.lease.LingerUntil
	l.models.lingering[e] = struct{}{}
	l.models.nLinger[e.lease.Feature]++
}

// reviveLocked gives a lingering lease back to its client: it is held
// again, renewed by heartbeats, and must be stored so before it is
// answered (see persist).
func (l *Ledger) reviveLocked(e *entry, at instant) {
	l.unlingerLocked(e)
	e.lease.LingerUntil = time.Time{}
	e.terms = e.lease.LeaseTerms != (LeaseTerms{})
	e.offList = false
	e.lease.LastHeartbeat = at.wall
	e.lease.ExpiresAt = at.wall.Add(l.keepalive)
	e.deadline = at.mono + l.keepalive
	l.expiry.pushBack(e)
	e.storing = &storing{done: make(chan struct{})}
	l.addPendingLocked(e)
}

// takeOffListLocked passes to take every borrowed lease whose borrow
// ended and every lingering lease whose linger ended by now.
func (l *Ledger) takeOffListLocked(now time.Time, take func(*entry)) {
	for e := range l.models.borrowed {
		if now.After(e.lease.BorrowedUntil) {
			take(e)
		}
	}
	for e := range l.models.lingering {
		if !now.Before(e.lease.LingerUntil) {
			take(e)
		}
	}
}

// heartbeatOffListLocked answers a heartbeat of a borrowed or lingering
// lease: a borrowed one needs none but may send them; a lingering one was
// released.
func (l *Ledger) heartbeatOffListLocked(e *entry, at instant) (Lease, error) {
	if !e.lease.LingerUntil.IsZero() {
		return Lease{}, leaseNotFound(e.lease.ID)
	}
	e.lease.LastHeartbeat = at.wall
	return e.lease, nil
}

// modelCounts returns the borrowed and lingering leases of a feature.
func (m *ledgerModels) counts(feature string) (borrowed, lingering int) {
	return m.nBorrowed[feature], m.nLinger[feature]
}

// lingeringNoteLocked says, for a refusal for want of seats, how many of
// the seats in use linger with clients that released them: ", 1
// lingering", or "" when none does.
func (l *Ledger) lingeringNoteLocked(feature string) string {
	if n := l.models.nLinger[feature]; n > 0 {
		return fmt.Sprintf(", %d lingering after a release", n)
	}
	return ""
}
