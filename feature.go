package usher

import (
	"sort"
	"strconv"
	"time"
)

// Feature states reported by FeatureStatus.State.
const (
	FeatureActive     = "active"
	FeatureNotStarted = "not_started"
	FeatureExpired    = "expired"
	FeatureRemoved    = "removed" // no license grants it; leases still live
	// FeatureInUseElsewhere: only bound licenses grant it, and another
	// server with this identity serves them on this host.
	FeatureInUseElsewhere = "in_use_elsewhere"
)

// FeatureStatus is what a feature offers at one moment: the seats its
// active grants add up to, how many are in use, and its time window.
type FeatureStatus struct {
	Name      string     `json:"name"`
	Seats     int        `json:"seats"`
	Unlimited bool       `json:"unlimited"`
	InUse     int        `json:"in_use"`
	Queued    int        `json:"queued"`
	Borrowed  int        `json:"borrowed"`  // leases borrowed for offline use
	Lingering int        `json:"lingering"` // released leases whose seat still lingers
	State     string     `json:"state"`
	StartsAt  *time.Time `json:"starts_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	// HardwareKey is HardwareKeyPresent or HardwareKeyAbsent for a feature
	// some license requiring a hardware key grants, and "" otherwise.
	HardwareKey string `json:"hardware_key,omitempty"`
	// Consumption is the counter of a metered feature; nil for others.
	Consumption *ConsumptionStatus `json:"consumption,omitempty"`
}

// Free returns the seats that are not in use; -1 means unlimited.
func (f FeatureStatus) Free() int {
	if f.Unlimited {
		return -1
	}
	return max(f.Seats-f.InUse, 0)
}

// pool is every grant of one feature, across licenses. Grants stack: the
// seats of all grants active at a moment add up.
type pool struct {
	name   string
	grants []Grant
	// gate is set when some grants come from bound licenses, hw when some
	// come from licenses requiring the hardware key: while one is blocked,
	// the grants that need it (needs, one per grant) do not serve.
	gate  *BindingGate
	hw    *BindingGate
	needs []gateNeed
	// from names the license of each grant, in order (see licenseAt).
	from []string
	// clock, set for a feature with dates, refuses it while the clock is
	// set back (see ClockGuard).
	clock *ClockGuard
	// secret is set when a license with a Licensee Secret grants the
	// feature, and named when a grant serves registered users only.
	secret *secretGate
	named  bool
	// models is set when a grant uses a licensing model's attribute: the
	// ledger then counts the pool's leases by their terms.
	models *poolModels
}

// capacity returns the seats available at now, or the coded error that
// refuses a checkout when no grant is active.
func (p *pool) capacity(now time.Time, name string) (seats int, unlimited bool, err error) {
	if err := p.clock.Check(now); err != nil {
		return 0, false, err
	}
	grants := p.grants
	if p.gate != nil || p.hw != nil {
		if grants, err = p.servable(name); err != nil {
			return 0, false, err
		}
	}
	active, future := false, false
	for _, g := range grants {
		switch {
		case g.ActiveAt(now):
			active = true
			seats += g.Seats
			unlimited = unlimited || g.Unlimited
		case !g.StartsAt.IsZero() && now.Before(g.StartsAt):
			future = true
		}
	}
	switch {
	case active:
		return seats, unlimited, nil
	case future:
		return 0, false, Errorf(EFeatureNotStarted, "feature %s is licensed from %s and cannot be checked out before then", name, formatTime(p.window(now).start))
	default:
		return 0, false, Errorf(EFeatureExpired, "the license for feature %s expired on %s: ask the vendor for a renewal", name, formatTime(p.window(now).end))
	}
}

type window struct{ start, end time.Time }

// window returns the earliest start of the grants that are active or still
// to come at now (zero if any has none) and their latest expiry (zero if
// any never expires). When every grant has expired, it spans them all.
func (p *pool) window(now time.Time) window {
	grants := make([]Grant, 0, len(p.grants))
	for _, g := range p.grants {
		if !g.expiredAt(now) {
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 {
		grants = p.grants
	}
	var w window
	openStart, openEnd := false, false
	for _, g := range grants {
		if g.StartsAt.IsZero() {
			openStart = true
		} else if w.start.IsZero() || g.StartsAt.Before(w.start) {
			w.start = g.StartsAt
		}
		if g.ExpiresAt.IsZero() {
			openEnd = true
		} else if g.ExpiresAt.After(w.end) {
			w.end = g.ExpiresAt
		}
	}
	if openStart {
		w.start = time.Time{}
	}
	if openEnd {
		w.end = time.Time{}
	}
	return w
}

func (p *pool) status(name string, inUse int, now time.Time) FeatureStatus {
	fs := FeatureStatus{Name: name, InUse: inUse, State: FeatureActive}
	if p == nil || len(p.grants) == 0 {
		fs.State = FeatureRemoved
		return fs
	}
	seats, unlimited, err := p.capacity(now, name)
	switch ErrorCode(err) {
	case EFeatureNotStarted:
		fs.State = FeatureNotStarted
	case EFeatureExpired:
		fs.State = FeatureExpired
	case ELicenseInUseElsewhere:
		fs.State = FeatureInUseElsewhere
	case EHardwareKeyNotAccessible:
		fs.State = FeatureHardwareKeyAbsent
	case EClockTampered:
		fs.State = FeatureClockTampered
	}
	fs.HardwareKey = p.hardwareKeyState()
	fs.Seats, fs.Unlimited = seats, unlimited
	w := p.window(now)
	if !w.start.IsZero() {
		fs.StartsAt = &w.start
	}
	if !w.end.IsZero() {
		fs.ExpiresAt = &w.end
	}
	return fs
}

// buildPools groups the grants of all licenses by feature. The grants of
// bound licenses serve only while gate is open, those of licenses that
// require the hardware key only while hw is open.
func buildPools(licenses map[string]*License, gate, hw *BindingGate) map[string]*pool {
	pools := make(map[string]*pool)
	for _, l := range licenses {
		need := licenseNeeds(l, gate, hw)
		for _, g := range l.Grants {
			p := pools[g.Feature]
			if p == nil {
				p = &pool{name: g.Feature}
				pools[g.Feature] = p
			}
			p.grants, p.from = append(p.grants, g), append(p.from, l.ID)
			p.needs = append(p.needs, need)
			p.note(g)
			if need&needIdentity != 0 {
				p.gate = gate
			}
			if need&needHardwareKey != 0 {
				p.hw = hw
			}
		}
	}
	for _, p := range pools {
		if p.gate == nil && p.hw == nil {
			p.needs = nil // nothing gates it: the hot path reads no gate
		}
	}
	attachSecretGates(pools, licenses)
	return pools
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plural returns "1 seat is" or "5 seats are" style phrases.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
