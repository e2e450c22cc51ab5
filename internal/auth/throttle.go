package auth

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	usher "github.com/usher-lm/usher"
)

// A login costs an argon2id hash of 19 MiB whether or not the user
// exists, so logins are the one cheap way for an anonymous client to make
// the server spend memory and CPU. Two bounds keep a flood of them from
// hurting anyone else: at most MaxHashes hashes run at once (other logins
// wait briefly for one, then are refused), and a name or an address that
// keeps failing is refused without hashing, for a time that doubles with
// each failure. Refusals come after a pause (the wait for a hash, or
// LoginRefusalDelay), so that a flood's connections send few requests: a
// refusal costs little, but thousands of them a second would still take
// the server from everyone else.

// DefaultHashWait is how long a login waits for a password check to free
// up before it is refused.
const DefaultHashWait = 500 * time.Millisecond

// DefaultHashRate is how many password hashes may start per second, per
// slot of MaxHashes, unless Config says otherwise. A hash takes a core for
// some 40 ms and allocates 19 MiB for the collector to reclaim: four a
// second leave most of a core to checkouts and heartbeats, and are still
// more than people logging in need (tokens last login_ttl).
const DefaultHashRate = 4

// maxHashWaiters bounds the logins that wait for a hash; more are refused
// at once.
const maxHashWaiters = 1024

// DefaultLoginRefusalDelay is how long a backed-off login waits for its
// refusal, at most: the back-off's time left, if shorter.
const DefaultLoginRefusalDelay = time.Second

// Login back-off. After the free failures, each further failure of an
// address, or of a user name from any address, refuses its logins for a
// time that starts at LoginBackoffMin and doubles up to the maximum. A
// success ends the back-off; a name or address quiet for LoginForgetAfter
// starts again from nothing.
const (
	LoginFreeFailuresPerAddress = 5
	LoginFreeFailuresPerUser    = 10
	LoginBackoffMin             = time.Second
	LoginBackoffMaxPerAddress   = 5 * time.Minute
	LoginBackoffMaxPerUser      = time.Minute
	LoginForgetAfter            = 15 * time.Minute
	// LoginTracked bounds how many addresses, and how many user names,
	// the back-off remembers. When full, those it knows stay known and
	// new ones are not tracked until old ones are forgotten.
	LoginTracked = 10_000
)

// DefaultMaxHashes is the number of password hashes that run at once
// unless Config says otherwise: half the cores, at least one, so that a
// login flood leaves the rest to checkouts and heartbeats.
func DefaultMaxHashes() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// RetryError is an error that tells the client when to try again: a
// login refused before its password was checked.
type RetryError struct {
	Err   *usher.Error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the coded error.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns how long err asks the client to wait before trying
// again, and whether it does.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// seconds rounds d up to whole seconds, at least one, as Retry-After has it.
func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// hashSlots bounds the password hashes that run at once. A login waits at
// most wait for a slot, and only while fewer than maxHashWaiters others
// wait.
type hashSlots struct {
	slots   chan struct{}
	wait    time.Duration
	queue   int32
	waiting atomic.Int32
	pace    *rate.Limiter // nil: hashes start as soon as they have a slot
}

func newHashSlots(n int, wait time.Duration, perSecond float64) *hashSlots {
	if n <= 0 {
		n = DefaultMaxHashes()
	}
	if wait == 0 {
		wait = DefaultHashWait
	}
	h := &hashSlots{slots: make(chan struct{}, n), wait: max(wait, 0), queue: maxHashWaiters}
	if perSecond == 0 {
		perSecond = DefaultHashRate * float64(n)
	}
	if perSecond > 0 {
		h.pace = rate.NewLimiter(rate.Limit(perSecond), n)
	}
	return h
}

var errHashBusy = &RetryError{After: time.Second, Err: usher.Errorf(usher.EUnavailable,
	"the server is busy checking other logins: retry in a second")}

// tryAcquire takes a slot for a login, waiting briefly; it returns
// errHashBusy when none frees up in time.
func (h *hashSlots) tryAcquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		if h.pace == nil || h.pace.Allow() {
			return nil
		}
		h.release()
	default:
	}
	if h.wait <= 0 || h.waiting.Add(1) > h.queue {
		if h.wait > 0 {
			h.waiting.Add(-1)
		}
		return errHashBusy
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return h.paced(ctx, t.C)
	case <-t.C:
		return errHashBusy
	case <-ctx.Done(): // the client is gone
		return errHashBusy
	}
}

// paced waits, holding its slot, until the hash rate lets it start, or
// gives the slot back with errHashBusy if that comes after timeout.
func (h *hashSlots) paced(ctx context.Context, timeout <-chan time.Time) error {
	if h.pace == nil {
		return nil
	}
	r := h.pace.Reserve()
	if r.Delay() == 0 {
		return nil
	}
	t := time.NewTimer(r.Delay())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-timeout:
	case <-ctx.Done():
	}
	r.Cancel()
	h.release()
	return errHashBusy
}

// acquire takes a slot for an administrative hash, waiting as long as ctx
// allows.
func (h *hashSlots) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hashSlots) release() { <-h.slots }

// backoff counts the recent login failures of a set of keys (addresses,
// or user names) and refuses a key whose failures are past the free ones.
type backoff struct {
	free      int
	maxDelay  time.Duration
	what      string // "address" or "user": named in refusals
	mu        sync.Mutex
	keys      map[string]*failures
	lastSweep time.Time
}

type failures struct {
	count int
	last  time.Time // of the last failure
	until time.Time // refused until then
}

func newBackoff(what string, free int, maxDelay time.Duration) *backoff {
	return &backoff{what: what, free: free, maxDelay: maxDelay, keys: map[string]*failures{}}
}

// check returns a RetryError while key is refused.
func (b *backoff) check(key string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.keys[key]
	if !ok || !now.Before(f.until) {
		return nil
	}
	wait := f.until.Sub(now)
	return &RetryError{After: wait, Err: usher.Errorf(usher.ERateLimited,
		"too many failed logins for this %s: retry in %ds", b.what, seconds(wait))}
}

// fail records a failure of key.
func (b *backoff) fail(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.keys[key]
	if ok && now.Sub(f.last) >= LoginForgetAfter {
		f.count = 0
	}
	if !ok {
		if len(b.keys) >= LoginTracked && !b.sweep(now) {
			return
		}
		f = &failures{}
		b.keys[key] = f
	}
	f.count++
	f.last = now
	if n := f.count - b.free; n > 0 {
		delay := b.maxDelay
		if n < 32 && LoginBackoffMin<<(n-1) < delay {
			delay = LoginBackoffMin << (n - 1)
		}
		f.until = now.Add(delay)
	}
}

// succeed forgets key's failures.
func (b *backoff) succeed(key string) {
	b.mu.Lock()
	delete(b.keys, key)
	b.mu.Unlock()
}

// sweep forgets keys quiet for LoginForgetAfter, at most once a second,
// and reports whether there is room for a new one.
func (b *backoff) sweep(now time.Time) bool {
	if now.Sub(b.lastSweep) >= time.Second {
		b.lastSweep = now
		for k, f := range b.keys {
			if now.Sub(f.last) >= LoginForgetAfter && !now.Before(f.until) {
				delete(b.keys, k)
			}
		}
	}
	return len(b.keys) < LoginTracked
}

// size returns how many keys are tracked.
func (b *backoff) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

// loginGuard is the back-off of addresses and of user names.
type loginGuard struct {
	addrs, users *backoff
	delay        time.Duration // of a refusal, at most
}

func newLoginGuard(delay time.Duration) loginGuard {
	if delay == 0 {
		delay = DefaultLoginRefusalDelay
	}
	return loginGuard{delay: max(delay, 0),
		addrs: newBackoff("address", LoginFreeFailuresPerAddress, LoginBackoffMaxPerAddress),
		users: newBackoff("user", LoginFreeFailuresPerUser, LoginBackoffMaxPerUser),
	}
}

// check refuses a login from addr as name while either is backed off.
// Names that no user could have are not tracked: the address is.
func (g loginGuard) check(name, addr string, now time.Time) error {
	if err := g.addrs.check(addr, now); err != nil {
		return err
	}
	if nameRE.MatchString(name) {
		return g.users.check(name, now)
	}
	return nil
}

// pause waits before a refusal: min(the back-off left, the guard's
// delay), or until the client leaves.
func (g loginGuard) pause(ctx context.Context, err error) {
	d, _ := RetryAfter(err)
	if d = min(d, g.delay); d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (g loginGuard) fail(name, addr string, now time.Time) {
	g.addrs.fail(addr, now)
	if nameRE.MatchString(name) {
		g.users.fail(name, now)
	}
}

func (g loginGuard) succeed(name, addr string) {
	g.addrs.succeed(addr)
	g.users.succeed(name)
}
