package usher

import (
	"sort"
	"strconv"
	"time"
)

// LeaseTerms are what the licensing models add to a lease (see
// docs/licensing-models.md). The zero value is a plain lease: one seat of
// its own, renewed by heartbeats.
type LeaseTerms struct {
	// Count is how many seats the lease holds; 0 means 1.
	Count int `json:"count,omitempty"`
	// Seat names the seat the lease shares with the other leases of its
	// feature that have the same Seat (scope host, user or process); ""
	// for a seat of its own.
	Seat string `json:"seat,omitempty"`
	// Version is the version of the grants the lease counts against; ""
	// for grants without one.
	Version string `json:"version,omitempty"`
	// BorrowedUntil, if set, is when a borrowed lease ends: it needs no
	// heartbeat until then.
	BorrowedUntil time.Time `json:"borrowed_until,omitzero"`
	// LingerUntil, if set, is when a released lease frees its seat; until
	// then the seat stays with the client.
	LingerUntil time.Time `json:"linger_until,omitzero"`
}

// seats returns the seats the terms ask for.
func (t LeaseTerms) seats() int { return max(t.Count, 1) }

// maxCount bounds the seats one checkout may ask for.
const maxCount = 10_000

func (r CheckoutRequest) validateTerms() error {
	if r.Count < 0 || r.Count > maxCount {
		return Errorf(EInvalid, "count must be between 1 and %d", maxCount)
	}
	if r.Version != "" {
		if _, err := ParseVersion(r.Version); err != nil {
			return err
		}
	}
	if r.Borrow < 0 {
		return Errorf(EInvalid, "borrow must be a positive duration, like 72h")
	}
	return nil
}

// modelled reports whether req asks for anything beyond one plain seat.
func (r CheckoutRequest) modelled() bool {
	return r.Count > 1 || r.Version != "" || r.Borrow != 0
}

// poolModels is what the grants of a feature say beyond seats and dates.
type poolModels struct {
	scope     string        // "" (session), process, host or user
	versioned bool          // some grant has a version
	linger    time.Duration // the longest linger of its grants
	borrow    time.Duration // the longest borrow its grants allow
}

// note records the attributes of one more grant of p.
func (p *pool) note(g Grant) {
	if !g.hasAttrs() {
		return
	}
	if p.models == nil {
		p.models = &poolModels{}
	}
	m := p.models
	if g.Scope != "" {
		m.scope = g.Scope
	}
	m.versioned = m.versioned || g.Version != ""
	m.linger = max(m.linger, g.Linger)
	m.borrow = max(m.borrow, g.Borrow)
}

func (p *pool) scope() string {
	if p == nil || p.models == nil {
		return ""
	}
	return p.models.scope
}

// checkScopesLocked refuses a license whose grants count a feature in
// another scope than the grants already loaded: a feature has one scope.
//
// Errors: ELicenseInvalid.
func (l *Ledger) checkScopesLocked(lic *License) error {
	for _, g := range lic.Grants {
		p := l.pools[g.Feature]
		if p == nil || len(p.grants) == 0 || p.scope() == g.Scope {
			continue
		}
		return Errorf(ELicenseInvalid, "license %s counts feature %s per %s, but the loaded licenses count it per %s: a feature has one counting scope; ask the vendor for licenses that agree", lic.ID, g.Feature, scopeName(g.Scope), scopeName(p.scope()))
	}
	return nil
}

func scopeName(s string) string {
	if s == "" {
		return ScopeSession
	}
	return s
}

// scopeKey returns the seat a client's leases share under scope.
//
// Errors: EInvalid when the client lacks the field the scope counts by.
func scopeKey(scope, feature string, c Client) (string, error) {
	need := func(field string) error {
		return Errorf(EInvalid, "feature %s is counted per %s: send client.%s with the checkout", feature, scope, field)
	}
	switch scope {
	case ScopeHost:
		if c.Host == "" {
			return "", need("host")
		}
		return "host:" + c.Host, nil
	case ScopeUser:
		if c.User == "" {
			return "", need("user")
		}
		return "user:" + c.User, nil
	case ScopeProcess:
		if c.Host == "" || c.PID == 0 {
			return "", need("host and client.pid")
		}
		return "process:" + c.Host + "/" + strconv.Itoa(c.PID), nil
	}
	return "", nil
}

// termsLocked decides the terms of a new lease for req on pool p, which
// offers seats (or is unlimited) with inUse taken.
//
// Errors: EInvalid, ENoSeats, EBorrowNotAllowed, EFeatureNotFound for a
// version no grant has.
func (l *Ledger) termsLocked(p *pool, req CheckoutRequest, now time.Time, seats int, unlimited bool, inUse int) (LeaseTerms, error) {
	var t LeaseTerms
	n := max(req.Count, 1)
	if n > 1 {
		t.Count = n
	}
	if err := borrowTerms(p, req, now, &t); err != nil {
		return t, err
	}
	if scope := p.scope(); scope != "" {
		key, err := l.shareTerms(p, scope, req, &t)
		if err != nil || key {
			return t, err
		}
	}
	if !unlimited && n > seats && l.supply == nil { // a relay's block grows: ENoSeats below
		return t, Errorf(EInvalid, "checkout of %d seats of feature %s: only %s licensed now: ask for fewer", n, req.Feature, plural(seats, "seat is", "seats are"))
	}
	if !unlimited && inUse+n > seats {
		return t, Errorf(ENoSeats, "%d of %d seats of feature %s are in use and this checkout needs %d: try again later, wait in line, or ask your admin for more seats", inUse, seats, req.Feature, n)
	}
	if req.Version != "" || (p.models != nil && p.models.versioned) {
		v, err := l.pickVersionLocked(p, req, now, n)
		t.Version = v
		return t, err
	}
	return t, nil
}

// borrowTerms sets the end of a borrow that req asks for, if p allows it.
func borrowTerms(p *pool, req CheckoutRequest, now time.Time, t *LeaseTerms) error {
	if req.Borrow <= 0 {
		return nil
	}
	if p.models == nil || p.models.borrow == 0 {
		return Errorf(EBorrowNotAllowed, "feature %s may not be borrowed: its license has no borrow= attribute; check it out without borrow", req.Feature)
	}
	if req.Borrow > p.models.borrow {
		return Errorf(EBorrowNotAllowed, "feature %s may be borrowed for at most %s: ask for a shorter borrow", req.Feature, formatLicenseDuration(p.models.borrow))
	}
	t.BorrowedUntil = now.Add(req.Borrow).Truncate(time.Second)
	return nil
}

// shareTerms sets the seat req shares under scope. joined is true when
// another lease holds that seat already: the new lease takes no seat.
func (l *Ledger) shareTerms(p *pool, scope string, req CheckoutRequest, t *LeaseTerms) (joined bool, err error) {
	if t.Count > 1 {
		return false, Errorf(EInvalid, "feature %s is counted per %s, where leases share seats: check it out without count", req.Feature, scope)
	}
	if t.Seat, err = scopeKey(scope, req.Feature, req.Client); err != nil {
		return false, err
	}
	sh := l.models.shares[clientKey{p.name, t.Seat}]
	if sh == nil {
		return false, nil
	}
	if req.Version != "" && !versionAtLeast(sh.version, req.Version) {
		return false, Errorf(ENoSeats, "feature %s: the seat of %s counts against version %q, older than %s: end its leases to take a newer one", req.Feature, t.Seat, sh.version, req.Version)
	}
	t.Version = sh.version
	return true, nil
}

// versionAtLeast reports whether grant version have serves a checkout
// asking for want. A grant without a version serves no versioned checkout.
func versionAtLeast(have, want string) bool {
	if have == "" {
		return false
	}
	h, err1 := ParseVersion(have)
	w, err2 := ParseVersion(want)
	return err1 == nil && err2 == nil && h.Compare(w) >= 0
}

// versionClass is the seats of one grant version of a pool.
type versionClass struct {
	name      string
	v         Version
	seats     int
	unlimited bool
}

// pickVersionLocked returns the lowest grant version that serves req and
// has n seats free: higher versions stay free for checkouts that need
// them.
func (l *Ledger) pickVersionLocked(p *pool, req CheckoutRequest, now time.Time, n int) (string, error) {
	classes, err := p.versionClasses(req, now)
	if err != nil {
		return "", err
	}
	for _, c := range classes {
		if c.unlimited || l.models.versionUsedLocked(l, p.name, c.name)+n <= c.seats {
			return c.name, nil
		}
	}
	if len(classes) == 0 {
		return "", Errorf(EFeatureNotFound, "no license on this server grants feature %s in version %s or later: check the version, or ask the vendor for a license of it", req.Feature, req.Version)
	}
	return "", Errorf(ENoSeats, "all seats of feature %s that serve version %s are in use: try again later, wait in line, or ask your admin for more seats", req.Feature, req.Version)
}

// versionClasses returns the active grants of p that serve req, summed by
// version, lowest first ("" before any version).
func (p *pool) versionClasses(req CheckoutRequest, now time.Time) ([]versionClass, error) {
	grants := p.grants
	if p.gate != nil || p.hw != nil {
		var err error
		if grants, err = p.servable(req.Feature); err != nil {
			return nil, err
		}
	}
	byName := make(map[string]*versionClass)
	var out []*versionClass
	for _, g := range grants {
		if !g.ActiveAt(now) || (req.Version != "" && !versionAtLeast(g.Version, req.Version)) {
			continue
		}
		c := byName[g.Version]
		if c == nil {
			c = &versionClass{name: g.Version}
			c.v, _ = ParseVersion(g.Version) // validated with the license
			byName[g.Version] = c
			out = append(out, c)
		}
		c.seats += g.Seats
		c.unlimited = c.unlimited || g.Unlimited
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v.Compare(out[j].v) < 0 })
	res := make([]versionClass, len(out))
	for i, c := range out {
		res[i] = *c
	}
	return res, nil
}
