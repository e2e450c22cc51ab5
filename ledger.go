package usher

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// DefaultKeepaliveTimeout is how long a lease lives without a heartbeat.
const DefaultKeepaliveTimeout = 180 * time.Second

// maxQueue bounds the waiters of one feature.
const maxQueue = 100_000

// LedgerConfig holds what a Ledger needs. Store and Keyring are required.
type LedgerConfig struct {
	Store            Store
	Keyring          *Keyring
	KeepaliveTimeout time.Duration    // default DefaultKeepaliveTimeout
	Now              func() time.Time // default time.Now
	Logger           *slog.Logger     // default discards
	Observer         Observer         // default ignores events
	// Monotonic reads a clock that no one sets, as the time since any
	// fixed point: keep-alive windows are measured on it, so that a step
	// of the wall clock neither ends every lease at once nor keeps dead
	// ones. By default the monotonic readings of Now's times serve (those
	// of time.Now; a fake clock's times have none, and its wall time then
	// serves).
	Monotonic func() time.Duration
	// Limits bound what one client address (CheckoutRequest.Addr) may
	// hold; the zero value bounds nothing.
	Limits AddressLimits
	// Confirmer, if set, is asked before a checkout is refused for want
	// of seats; see Confirmer.
	Confirmer Confirmer
	// Identity is this server's, which bound licenses must name; nil
	// refuses every bound license (see License.CheckBinding).
	Identity *ServerIdentity
	// Gate, if set, says whether bound licenses may be served now (see
	// BindingGate); nil serves them.
	Gate *BindingGate
	// Policy, if set, is the admin's policy in force (see SetPolicy).
	Policy *Policy
	// HardwareKey, if set, says whether the hardware key is accessible:
	// licenses requiring it serve only while it is open.
	HardwareKey *BindingGate
	// ClockGuard, if set, refuses features with dates while the clock is
	// set back (clockguard.go); nil never refuses.
	ClockGuard *ClockGuard
	// Supplier, set on a relay, grows the blocks of seats it serves
	// before a checkout is refused for want of them (relay.go).
	Supplier BlockSupplier
}

// Confirmer checks that the state a ledger decides from still holds. A
// refusal for want of seats is computed from memory alone: a node that
// lost its role in a cluster without noticing yet could refuse a seat that
// another node has freed meanwhile. The ledger confirms before it refuses
// (and only then, so granting costs nothing more).
type Confirmer interface {
	// Confirm returns nil while this ledger's state is still the one in
	// force, and an error otherwise.
	Confirm(ctx context.Context) error
}

// Ledger is the one owner of seat accounting. It decides every checkout in
// memory under one lock and makes each change durable through the Store
// before acknowledging it. A seat is counted from the moment it is granted
// until its deletion is durable, so a crash at any point can never leave
// more leases on disk than seats.
type Ledger struct {
	store    Store
	keys     *Keyring
	clock    func() time.Time     // the injected Now, its readings untouched
	mono     func() time.Duration // nil: measured from clock's readings
	base     time.Time            // clock's reading at start, which mono counts from
	logger   *slog.Logger
	observer Observer
	confirm  Confirmer // nil: every refusal stands
	identity *ServerIdentity
	gate     *BindingGate
	hwGate   *BindingGate

	clockGuard *ClockGuard // nil: never refuses; see clockguard.go

	licMu sync.Mutex // serializes license changes

	mu        sync.Mutex
	keepalive time.Duration
	resortAt  time.Duration // set after the timeout shrank: re-sort the expiry list at this monotonic reading
	licenses  map[string]*License
	refused   map[string]error // stored licenses that failed verification at start, and why
	released  map[string]ReleasedLicense
	pools     map[string]*pool
	leases    map[string]*entry
	byClient  map[clientKey]*entry
	inUse     map[string]int
	queues    map[string]*list.List // of *waiter
	expiry    expiryList            // every lease in leases, soonest expiry first
	// pending lists, per feature, the grants still being stored: one may
	// yet fail and free its seat (see refuseLocked).
	pending map[string]*entry
	limits  AddressLimits
	byAddr  map[string]addrUse // what each client address holds, where a limit counts it

	banMu sync.Mutex     // serializes ban changes, taken before mu
	bans  map[banKey]Ban // the stored bans, some perhaps ended

	access    access                   // Licensee Secret bindings and registered users
	policy    *Policy                  // nil: no rules; see policy_ledger.go
	policyUse map[string]*policyCounts // what the policy's rules count, per feature

	meters map[string]*meter        // counters of metered features (consumption.go)
	states map[string]*LicenseState // activations and renewals (subscription.go, renewal.go)

	models ledgerModels // leases with terms: shared, multi-seat, versioned, borrowed, lingering

	supply BlockSupplier    // nil but on a relay
	blocks map[string]Block // a relay's seats, by feature (relay.go)
}

type clientKey struct{ feature, client string }

// entry is a lease as the ledger tracks it, guarded by the ledger's lock.
type entry struct {
	lease Lease
	// deadline is the monotonic reading at which the lease expires; its
	// ExpiresAt says the same in wall-clock time, for people.
	deadline time.Duration
	// ending is set while a deletion is under way (the seat still counts)
	// and closed when it ended, whether it succeeded or not.
	ending     chan struct{}
	prev, next *entry // in the ledger's expiry list
	// storing is set while the lease is being stored, and stays set if
	// storing failed; it is nil once the lease is stored, so that a
	// million held leases keep nothing of it.
	storing *storing
	// terms is set when the lease has LeaseTerms: the ledger counts it
	// through ledgerModels. offList is set for a borrowed or lingering
	// lease, which heartbeats do not keep: it is not on the expiry list.
	terms, offList bool
}

// storing is the state of a lease's first write.
type storing struct {
	done       chan struct{} // closed when the write ended
	err        error         // set before done closes if the write failed
	prev, next *entry        // in the feature's pending list until done
	access     *grantAccess  // what the grant stores with it: nil for most
	waited     time.Duration // how long the checkout waited in line for it
}

func (e *entry) key() clientKey { return clientKey{e.lease.Feature, e.lease.Client.ID} }

// isDurableLocked reports whether e is stored.
func (e *entry) isDurableLocked() bool {
	return e.storing == nil
}

// waitDurable blocks until e is stored, or storing failed, and returns the
// failure.
func (l *Ledger) waitDurable(e *entry) error {
	l.mu.Lock()
	st := e.storing
	l.mu.Unlock()
	if st == nil {
		return nil
	}
	<-st.done
	return st.err
}

// OpenLedger loads the stored state and returns a ledger serving it. Every
// stored license is verified again; one that fails is logged and left out.
// Every stored lease gets a fresh keep-alive window.
func OpenLedger(ctx context.Context, cfg LedgerConfig) (*Ledger, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, fmt.Errorf("open ledger: store and keyring are required")
	}
	l := &Ledger{
		store: cfg.Store, keys: cfg.Keyring, clock: cfg.Now, mono: cfg.Monotonic, logger: cfg.Logger, observer: cfg.Observer,
		confirm: cfg.Confirmer, identity: cfg.Identity, gate: cfg.Gate, hwGate: cfg.HardwareKey, clockGuard: cfg.ClockGuard,
		keepalive: cfg.KeepaliveTimeout,
		licenses:  make(map[string]*License), refused: make(map[string]error), released: make(map[string]ReleasedLicense), leases: make(map[string]*entry),
		byClient: make(map[clientKey]*entry), inUse: make(map[string]int), queues: make(map[string]*list.List),
		pending: make(map[string]*entry), limits: cfg.Limits, byAddr: make(map[string]addrUse),
		bans: make(map[banKey]Ban), models: newLedgerModels(), supply: cfg.Supplier,
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	l.base = l.clock()
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.keepalive <= 0 {
		l.keepalive = DefaultKeepaliveTimeout
	}
	snap, err := l.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("open ledger: load store: %w", err)
	}
	l.restore(snap)
	l.setPolicyLocked(cfg.Policy)
	return l, nil
}

func (l *Ledger) restore(snap *Snapshot) {
	for _, r := range snap.Released {
		l.released[r.ID] = r
	}
	for _, rec := range snap.Licenses {
		lic, err := l.verify(rec.Text)
		if err == nil && lic.ID != rec.ID {
			err = fmt.Errorf("stored under id %s but the signed text says %s", rec.ID, lic.ID)
		}
		if err == nil {
			err = l.checkReleasedLocked(rec.ID)
		}
		if err != nil {
			l.logger.Error("stored license refused: its seats are not served; remove it with usher license remove, or add an intact copy", "license", rec.ID, "err", err)
			l.refused[rec.ID] = err
			continue
		}
		l.licenses[lic.ID] = lic
	}
	l.restoreModels(snap)
	l.rebuildPoolsLocked()
	for _, b := range snap.Bans {
		l.bans[b.key()] = b
	}
	l.access.restore(snap)
	l.sawStored(snap.Leases) // clockguard.go
	at := l.tick()
	for _, ls := range snap.Leases {
		ls.LastHeartbeat = at.wall
		ls.ExpiresAt = at.wall.Add(l.keepalive)
		e := &entry{lease: ls, deadline: at.mono + l.keepalive}
		taken := 1
		if ls.LeaseTerms != (LeaseTerms{}) {
			taken = l.attachLocked(e)
		}
		if !e.offList {
			l.expiry.pushBack(e)
		}
		l.leases[ls.ID] = e
		l.byClient[e.key()] = e
		l.inUse[ls.Feature] += taken
		l.countLocked(ls.Addr, 1, 0)
	}
}

// instant is one reading of the ledger's clocks: wall-clock time for what
// it reports and for license dates, and a monotonic reading for keep-alive
// arithmetic.
type instant struct {
	wall time.Time
	mono time.Duration
}

// tick reads the clocks.
func (l *Ledger) tick() instant {
	t := l.clock()
	if l.mono != nil {
		return instant{t.UTC(), l.mono()}
	}
	return instant{t.UTC(), t.Sub(l.base)} // UTC drops the monotonic reading: subtract first
}

// now returns the wall-clock time.
func (l *Ledger) now() time.Time { return l.clock().UTC() }

// KeepaliveTimeout returns how long a lease lives without a heartbeat.
func (l *Ledger) KeepaliveTimeout() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keepalive
}

// HeartbeatInterval returns the interval handed to clients: one third of
// the keep-alive timeout, so that two lost beats still keep a lease.
func (l *Ledger) HeartbeatInterval() time.Duration {
	return l.KeepaliveTimeout() / 3
}

// SetKeepaliveTimeout changes the keep-alive timeout for future heartbeats.
func (l *Ledger) SetKeepaliveTimeout(d time.Duration) error {
	if d <= 0 {
		return Errorf(EInvalid, "keep-alive timeout must be positive")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d < l.keepalive {
		l.resortAt = l.tick().mono + l.keepalive // by then every older window has ended
	}
	l.keepalive = d
	return nil
}

// Checkout grants one seat of a feature to a client. If the client already
// holds a lease on the feature, that lease is returned with created false
// and no second seat is taken, provided req.Owner owns it. With req.Wait
// set and no seat free, the request waits in a first-come-first-served
// line for up to req.Wait.
//
// Errors: EInvalid, EFeatureNotFound, EFeatureNotStarted, EFeatureExpired,
// ENoSeats, ELeaseHeldElsewhere, ETooManyLeases, ETooManyWaiters, or a
// store failure.
func (l *Ledger) Checkout(ctx context.Context, req CheckoutRequest) (lease Lease, created bool, err error) {
	if err := req.Validate(); err != nil {
		return Lease{}, false, err
	}
	if req.Client.Secret != "" {
		req.Secret, req.Client.Secret = req.Client.Secret, "" // never kept with the lease
	}
	if err := l.relayRefuses(req); err != nil { // relay.go
		return Lease{}, false, err
	}
	grows := 0 // a relay asks its upstream for seats, a few times at most
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		if e := l.byClient[clientKey{req.Feature, req.Client.ID}]; e != nil && e.ending == nil {
			if !e.claimLocked(req.Owner) {
				l.mu.Unlock()
				return Lease{}, false, clientHeldElsewhere(req)
			}
			l.mu.Unlock()
			lease, ok, err := l.rejoin(e)
			if ok || err != nil || attempt > 3 {
				return lease, false, err
			}
			continue // the lease ended meanwhile: ask again
		}
		e, err := l.grantLocked(req, l.tick(), false)
		if err != nil && l.supply != nil && grows < maxGrows && suppliedBy(err) {
			l.mu.Unlock()
			if grows, err = l.grow(ctx, req, grows); err != nil {
				return Lease{}, false, l.refuse(ctx, req, err)
			}
			continue // relay.go
		}
		if err != nil && ErrorCode(err) == ENoSeats && req.Wait > 0 {
			w, qerr := l.enqueueLocked(req)
			l.mu.Unlock()
			if qerr != nil {
				return Lease{}, false, qerr
			}
			return l.wait(ctx, w, err)
		}
		if ErrorCode(err) == ENoSeats && attempt <= 3 {
			// Refuse only on durable state: a grant still being stored
			// may fail (in a cluster, when this node loses its role) and
			// free its seat. Wait for those, then ask again.
			if pending := l.pendingChannelsLocked(req.Feature); len(pending) > 0 {
				l.mu.Unlock()
				for _, ch := range pending {
					<-ch
				}
				continue
			}
		}
		l.mu.Unlock()
		if err != nil {
			return Lease{}, false, l.refuse(ctx, req, err)
		}
		lease, err = l.persist(e)
		return lease, err == nil, err
	}
}

// refuse reports a checkout refused with err. A refusal for want of seats
// is confirmed first (see Confirmer); one that cannot be is answered
// EUnavailable, so that the client retries, on the node that decides now.
func (l *Ledger) refuse(ctx context.Context, req CheckoutRequest, err error) error {
	return l.refuseAfter(ctx, req, err, 0)
}

// refuseAfter is refuse for a checkout that waited in line for waited.
func (l *Ledger) refuseAfter(ctx context.Context, req CheckoutRequest, err error, waited time.Duration) error {
	if ErrorCode(err) == ENoSeats && l.confirm != nil {
		if cerr := l.confirm.Confirm(ctx); cerr != nil {
			l.logger.Warn("refusal not confirmed: answering unavailable", "feature", req.Feature, "err", cerr)
			return Errorf(EUnavailable, "this server could not confirm that it still decides (%v): retry, and the request will reach the server that decides now", cerr)
		}
	}
	l.emit(Event{Type: EventCheckoutDenied, Feature: req.Feature, Client: req.Client, Reason: denialReason(err), WaitedMS: waited.Milliseconds()})
	return err
}

// rejoin returns the live lease e once it is durable. ok is false when the
// lease ended before it could be returned. A lingering lease is held
// again.
func (l *Ledger) rejoin(e *entry) (Lease, bool, error) {
	if err := l.waitDurable(e); err != nil {
		return Lease{}, false, err
	}
	l.mu.Lock()
	if l.leases[e.lease.ID] != e || e.ending != nil {
		l.mu.Unlock()
		return Lease{}, false, nil
	}
	at := l.tick()
	if err := l.heartbeatRefusalLocked(e.lease, at.wall); err != nil {
		l.mu.Unlock()
		return Lease{}, false, err
	}
	if e.offList && !e.lease.LingerUntil.IsZero() {
		l.reviveLocked(e, at)
		l.mu.Unlock()
		lease, err := l.persist(e)
		return lease, err == nil, err
	}
	l.touchLocked(e, at)
	l.mu.Unlock()
	return e.lease, true, nil
}

// grantLocked takes a seat for req if one is free. Unless serving the
// queue, it refuses while others wait in line for the feature.
func (l *Ledger) grantLocked(req CheckoutRequest, at instant, fromQueue bool) (*entry, error) {
	now := at.wall
	p := l.pools[req.Feature]
	if p == nil || len(p.grants) == 0 {
		return nil, Errorf(EFeatureNotFound, "feature %s is not licensed on this server: check the name, or add a license that grants it", req.Feature)
	}
	if err := l.bannedLocked(req.Feature, req.Client, now); err != nil {
		return nil, err
	}
	if err := l.leaseLimitLocked(req.Addr); err != nil {
		return nil, err
	}
	seats, unlimited, err := p.capacity(now, req.Feature)
	var acc *grantAccess
	if err == nil && (p.secret != nil || p.named) {
		seats, unlimited, acc, err = l.accessLocked(p, req, now, seats, unlimited)
	}
	if err != nil {
		return nil, err
	}
	if l.policy != nil {
		if seats, err = l.admitLocked(&req, seats, unlimited); err != nil {
			return nil, err
		}
	}
	inUse := l.inUse[req.Feature]
	var terms LeaseTerms
	if p.models != nil || req.modelled() {
		if terms, err = l.termsLocked(p, req, now, seats, unlimited, inUse); err != nil {
			return nil, err
		}
	} else if !unlimited && inUse >= seats {
		return nil, Errorf(ENoSeats, "all seats of feature %s are in use (%d of %d%s): try again later, wait in line, or ask your admin for more seats", req.Feature, inUse, seats, l.lingeringNoteLocked(req.Feature))
	}
	if q := l.queues[req.Feature]; !fromQueue && q != nil && q.Len() > 0 {
		return nil, Errorf(ENoSeats, "%s already waiting for feature %s: wait in line or try again later", plural(q.Len(), "client is", "clients are"), req.Feature)
	}
	e := &entry{
		lease: Lease{
			ID: NewLeaseID(), Feature: p.name, Client: req.Client, // p.name: one copy of the name for all leases
			IssuedAt: now, LastHeartbeat: now, ExpiresAt: now.Add(l.keepalive), Owner: req.Owner, Addr: req.Addr,
			License: p.licenseAt(now), LeaseTerms: terms,
		},
		deadline: at.mono + l.keepalive,
		storing:  &storing{done: make(chan struct{}), access: l.takeAccessLocked(acc)},
	}
	taken := 1
	if terms != (LeaseTerms{}) {
		taken = l.attachLocked(e)
	}
	l.leases[e.lease.ID] = e
	l.byClient[e.key()] = e
	l.inUse[req.Feature] = inUse + taken
	l.countLocked(req.Addr, 1, 0)
	l.policyCountLocked(&e.lease, e.lease.seats())
	if !e.offList {
		l.expiry.pushBack(e)
	}
	l.addPendingLocked(e)
	return e, nil
}

// pendingChannelsLocked returns the durable channels of the grants of a
// feature that are still being stored.
func (l *Ledger) pendingChannelsLocked(feature string) []chan struct{} {
	var out []chan struct{}
	for e := l.pending[feature]; e != nil; e = e.storing.next {
		out = append(out, e.storing.done)
	}
	return out
}

func (l *Ledger) addPendingLocked(e *entry) {
	f, st := e.lease.Feature, e.storing
	st.next = l.pending[f]
	if st.next != nil {
		st.next.storing.prev = e
	}
	l.pending[f] = e
}

// settleLocked takes e off its feature's pending list once storing it
// ended, and forgets the write if it succeeded.
func (l *Ledger) settleLocked(e *entry) {
	f, st := e.lease.Feature, e.storing
	if st.prev != nil {
		st.prev.storing.next = st.next
	} else if l.pending[f] == e {
		if st.next != nil {
			l.pending[f] = st.next
		} else {
			delete(l.pending, f)
		}
	}
	if st.next != nil {
		st.next.storing.prev = st.prev
	}
	st.prev, st.next = nil, nil
	if st.err == nil {
		e.storing = nil
	}
}

// persist stores a freshly granted lease and acknowledges it, or takes the
// seat back if storing fails. The write is not cancelled with the request:
// once queued it completes either way, and memory follows the outcome.
func (l *Ledger) persist(e *entry) (Lease, error) {
	st, lease := e.storing, e.lease // nobody else knows e before the write ends
	err := l.storeAccess(st.access)
	if err == nil {
		err = l.store.PutLease(context.Background(), lease)
	}
	l.mu.Lock()
	if err != nil {
		st.err = err
		l.removeLocked(e)
	}
	close(st.done)
	l.settleLocked(e)
	inUse := l.inUse[lease.Feature]
	over := l.overdraftLocked(lease.Feature, inUse)
	l.mu.Unlock()
	if err != nil {
		l.logger.Error("checkout not stored", "feature", LogSafe(lease.Feature), "err", err)
		return Lease{}, err
	}
	l.emit(Event{Type: EventLeaseGranted, Feature: lease.Feature, LeaseID: lease.ID, Client: lease.Client, InUse: inUse, Reason: over, WaitedMS: st.waited.Milliseconds()})
	if st.access != nil {
		l.noteCheckout(st.access, lease)
	}
	return lease, nil
}

func (l *Ledger) touchLocked(e *entry, at instant) {
	if e.offList { // borrowed: its end is fixed
		e.lease.LastHeartbeat = at.wall
		return
	}
	e.lease.LastHeartbeat = at.wall
	e.lease.ExpiresAt = at.wall.Add(l.keepalive)
	e.lease.License = l.pools[e.lease.Feature].licenseAt(at.wall)
	e.deadline = at.mono + l.keepalive
	l.expiry.moveToBack(e)
}

// removeLocked forgets a lease whose deletion is durable (or whose storing
// failed), frees its seat and hands the seat to the head of the line.
func (l *Ledger) removeLocked(e *entry) {
	if l.leases[e.lease.ID] != e {
		return
	}
	delete(l.leases, e.lease.ID)
	l.expiry.remove(e)
	if l.byClient[e.key()] == e {
		delete(l.byClient, e.key())
	}
	f, freed := e.lease.Feature, 1
	if e.terms {
		freed = l.detachLocked(e)
	}
	if l.inUse[f] -= freed; l.inUse[f] <= 0 {
		delete(l.inUse, f)
	}
	l.countLocked(e.lease.Addr, -1, 0)
	l.policyCountLocked(&e.lease, -e.lease.seats())
	l.serveQueueLocked(f, l.tick())
}

// Heartbeat renews a lease's keep-alive window for its owner. It does not
// reach the store: after a restart every lease gets a fresh window anyway.
//
// Errors: ELeaseNotFound, ELeaseHeldElsewhere when by does not own the
// lease, or EFeatureExpired once the feature's last license has expired
// (the sweeper then reclaims the lease).
func (l *Ledger) Heartbeat(ctx context.Context, id string, by Owner) (Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.leases[id]
	if e == nil || e.ending != nil {
		return Lease{}, leaseNotFound(id)
	}
	if !e.claimLocked(by) {
		return Lease{}, leaseHeldElsewhere(id)
	}
	at := l.tick()
	if err := l.heartbeatRefusalLocked(e.lease, at.wall); err != nil {
		return Lease{}, err
	}
	if e.offList {
		return l.heartbeatOffListLocked(e, at)
	}
	if at.mono > e.deadline {
		return Lease{}, leaseNotFound(id) // expired; the sweeper has not reached it yet
	}
	l.touchLocked(e, at)
	return e.lease, nil
}

func featureExpired(ls Lease) error {
	return Errorf(EFeatureExpired, "the license for feature %s has expired, so lease %s ends: ask the vendor for a renewal", ls.Feature, ls.ID)
}

func leaseNotFound(id string) error {
	return Errorf(ELeaseNotFound, "lease %s is not held: it was released, kicked or expired; check out again", id)
}

func leaseHeldElsewhere(id string) error {
	return Errorf(ELeaseHeldElsewhere, "lease %s belongs to another credential or client address: renew and release it with the credential, or from the address, that checked it out (an admin may kick it)", id)
}

func clientHeldElsewhere(req CheckoutRequest) error {
	return Errorf(ELeaseHeldElsewhere, "client id %q holds feature %s for another credential or client address: give every application instance a client id of its own, or wait until that lease ends", req.Client.ID, req.Feature)
}

// claimLocked reports whether by owns e. A lease stored without an owner
// becomes by's.
func (e *entry) claimLocked(by Owner) bool {
	if e.lease.Owner == (Owner{}) {
		e.lease.Owner = by
	}
	return e.lease.Owner == by
}

// featureExpiredLocked reports whether every grant of a still-licensed
// feature has expired. A feature whose licenses were removed is not
// expired: its leases live on until released.
func (l *Ledger) featureExpiredLocked(feature string, now time.Time) bool {
	p := l.pools[feature]
	if p == nil || len(p.grants) == 0 {
		return false
	}
	_, _, err := p.capacity(now, feature)
	return ErrorCode(err) == EFeatureExpired
}

// Release ends a lease and frees its seat once the deletion is durable.
// The client calls it when done, as the lease's owner by; an admin calls
// it to kick (kicked true), whoever owns the lease.
//
// Errors: ELeaseNotFound, ELeaseHeldElsewhere when by does not own the
// lease and kicked is false, or a store failure (the lease then lives on).
func (l *Ledger) Release(ctx context.Context, id string, by Owner, kicked bool) error {
	l.mu.Lock()
	e := l.leases[id]
	for e != nil && e.ending != nil {
		// Another release (a retry, the sweeper) is under way: its outcome
		// is this one's. If it fails, the lease is still held, and this
		// call must not say otherwise.
		ch := e.ending
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
		e = l.leases[id]
	}
	if e == nil {
		l.mu.Unlock()
		return leaseNotFound(id)
	}
	if !kicked && !e.claimLocked(by) {
		l.mu.Unlock()
		return leaseHeldElsewhere(id)
	}
	if !kicked && e.offList && !e.lease.LingerUntil.IsZero() {
		l.mu.Unlock()
		return leaseNotFound(id) // released already; it lingers
	}
	e.ending = make(chan struct{})
	var linger time.Duration
	if !kicked {
		linger = l.lingerForLocked(e)
	}
	l.mu.Unlock()
	if linger > 0 {
		return l.releaseLingering(ctx, e, linger)
	}
	ended, err := l.end(ctx, []*entry{e})
	if err != nil {
		return err
	}
	if len(ended) == 0 {
		return leaseNotFound(id)
	}
	typ := EventLeaseReleased
	if kicked {
		typ = EventLeaseKicked
	}
	l.emitLease(typ, ended[0])
	return nil
}

// end deletes leases already marked as ending and frees their seats. It
// skips leases whose checkout failed to store, and returns those it ended.
// A lease whose deletion failed is held as before.
func (l *Ledger) end(ctx context.Context, es []*entry) ([]Lease, error) {
	ids := make([]string, 0, len(es))
	live := make([]*entry, 0, len(es))
	for _, e := range es {
		if l.waitDurable(e) == nil {
			ids = append(ids, e.lease.ID)
			live = append(live, e)
		}
	}
	var err error
	if len(ids) > 0 {
		err = l.store.DeleteLeases(context.WithoutCancel(ctx), ids)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ended := make([]Lease, 0, len(live))
	for _, e := range live {
		if err == nil {
			ended = append(ended, e.lease)
			l.removeLocked(e)
		}
	}
	for _, e := range es {
		close(e.ending)
		e.ending = nil
	}
	return ended, err
}

// Reclaim ends every lease that missed its keep-alive window, or whose
// feature's last license has expired. The server's sweeper calls it every
// scan interval; it returns the leases it ended.
func (l *Ledger) Reclaim(ctx context.Context) ([]Lease, error) {
	if err := l.dropExpiredBans(ctx); err != nil {
		l.logger.Warn("ended bans not deleted from the store: will retry", "err", err)
	}
	l.pruneConsumptions(ctx) // consumption.go
	l.mu.Lock()
	at := l.tick()
	if l.resortAt != 0 && at.mono >= l.resortAt {
		l.expiry.resort()
		l.resortAt = 0
	}
	var victims []*entry
	take := func(e *entry) {
		if e.ending == nil && e.isDurableLocked() {
			e.ending = make(chan struct{})
			victims = append(victims, e)
		}
	}
	if l.resortAt == 0 {
		l.expiry.due(at.mono, take)
	} else { // the list is out of order after a shorter timeout: look at all
		for _, e := range l.leases {
			if at.mono > e.deadline {
				take(e)
			}
		}
	}
	l.takeExpiredFeaturesLocked(at.wall, take)
	l.takeUnbackedLocked(at.wall, take) // relay.go
	l.takeOffListLocked(at.wall, take)
	l.serveQueuesLocked(at) // seats may have come with time: a grant started
	l.mu.Unlock()
	if len(victims) == 0 {
		return nil, nil
	}
	ended, err := l.end(ctx, victims)
	for _, ls := range ended {
		l.emitLease(EventLeaseExpired, ls)
	}
	return ended, err
}

// takeExpiredFeaturesLocked passes every lease of a feature whose last
// license has expired to take. It looks at every lease only when such a
// feature still has leases, which happens once per expiry.
func (l *Ledger) takeExpiredFeaturesLocked(now time.Time, take func(*entry)) {
	gone := make(map[string]bool)
	for f := range l.inUse {
		if l.featureExpiredLocked(f, now) {
			gone[f] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	for _, e := range l.leases {
		if gone[e.lease.Feature] {
			take(e)
		}
	}
}

// Lease returns one live lease.
func (l *Ledger) Lease(id string) (Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.leases[id]
	if e == nil {
		return Lease{}, leaseNotFound(id)
	}
	return e.lease, nil
}

// Leases returns every live lease, oldest first.
func (l *Ledger) Leases() []Lease {
	l.mu.Lock()
	out := make([]Lease, 0, len(l.leases))
	for _, e := range l.leases {
		out = append(out, e.lease)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].IssuedAt.Equal(out[j].IssuedAt) {
			return out[i].IssuedAt.Before(out[j].IssuedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Features returns the status of every feature that is licensed or still
// has leases, sorted by name.
func (l *Ledger) Features() []FeatureStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	names := make(map[string]struct{}, len(l.pools))
	for n := range l.pools {
		names[n] = struct{}{}
	}
	for n := range l.inUse {
		names[n] = struct{}{}
	}
	out := make([]FeatureStatus, 0, len(names))
	for _, n := range sortedKeys(names) {
		fs := l.pools[n].status(n, l.inUse[n], now)
		if q := l.queues[n]; q != nil {
			fs.Queued = q.Len()
		}
		fs.Borrowed, fs.Lingering = l.models.counts(n)
		fs.Consumption = l.consumptionStatusLocked(n, now)
		out = append(out, fs)
	}
	return out
}
