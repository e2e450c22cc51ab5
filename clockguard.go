package usher

import (
	"sync/atomic"
	"time"
)

// DefaultClockTolerance is how far a server's clock may fall behind the
// latest time it has seen before features with dates are refused.
const DefaultClockTolerance = time.Hour

// FeatureClockTampered is the state (FeatureStatus.State) of a feature
// with a start or expiry date while the server's clock is set back.
const FeatureClockTampered = "clock_tampered"

// ClockGuard tells when a server's clock has been set back: more than a
// tolerance behind the latest wall-clock time the server has seen, or the
// issue time of a loaded license. Setting the clock back would serve an
// expired license again, so while it is, features with a start or expiry
// date answer EClockTampered; features without dates do not care. A nil
// guard never refuses. It is safe for concurrent use, and costs a few
// atomic loads per check.
type ClockGuard struct {
	latest    atomic.Int64 // Unix nanoseconds of the latest time seen; 0: none
	issued    atomic.Int64 // Unix nanoseconds of the latest issue time of a loaded license; 0: none
	tolerance atomic.Int64 // nanoseconds
}

// NewClockGuard returns a guard with the given tolerance
// (DefaultClockTolerance when not positive).
func NewClockGuard(tolerance time.Duration) *ClockGuard {
	if tolerance <= 0 {
		tolerance = DefaultClockTolerance
	}
	g := &ClockGuard{}
	g.tolerance.Store(int64(tolerance))
	return g
}

// Saw records that the time t was seen (read from the clock, or found in
// stored data). It reports whether t is later than any time seen before.
func (g *ClockGuard) Saw(t time.Time) bool {
	if g == nil || t.IsZero() {
		return false
	}
	return raise(&g.latest, t.UnixNano())
}

// raise sets v to n if n is greater, and reports whether it did.
func raise(v *atomic.Int64, n int64) bool {
	for {
		old := v.Load()
		if n <= old {
			return false
		}
		if v.CompareAndSwap(old, n) {
			return true
		}
	}
}

// Latest returns the latest time seen; zero if none.
func (g *ClockGuard) Latest() time.Time {
	if g == nil || g.latest.Load() == 0 {
		return time.Time{}
	}
	return time.Unix(0, g.latest.Load()).UTC()
}

// sawLicenses records the latest issue time of the loaded licenses.
func (g *ClockGuard) sawLicenses(licenses map[string]*License) {
	if g == nil {
		return
	}
	var issued int64
	for _, l := range licenses {
		issued = max(issued, l.IssuedAt.UnixNano())
	}
	g.issued.Store(issued)
}

// Check returns nil while now is a plausible time, and an EClockTampered
// error saying what it is behind otherwise.
func (g *ClockGuard) Check(now time.Time) error {
	if g == nil {
		return nil
	}
	tol := g.tolerance.Load()
	n := now.UnixNano()
	if latest := g.latest.Load(); latest != 0 && n < latest-tol {
		return Errorf(EClockTampered, "the server's clock says %s, more than %s behind %s, a time it has already seen: set the server's clock right (NTP); features with dates are refused until then",
			formatTime(now), time.Duration(tol), formatTime(time.Unix(0, latest)))
	}
	if issued := g.issued.Load(); issued != 0 && n < issued-tol {
		return Errorf(EClockTampered, "the server's clock says %s, more than %s before %s, when a loaded license was issued: set the server's clock right (NTP); features with dates are refused until then",
			formatTime(now), time.Duration(tol), formatTime(time.Unix(0, issued)))
	}
	return nil
}

// dated reports whether any grant has a start or expiry date.
func dated(grants []Grant) bool {
	for _, g := range grants {
		if !g.StartsAt.IsZero() || !g.ExpiresAt.IsZero() {
			return true
		}
	}
	return false
}

// guardPoolsLocked puts the pools of features with dates under the
// clock guard, and has the guard note the loaded licenses' issue times.
// The ledger calls it whenever it builds its pools.
func (l *Ledger) guardPoolsLocked() {
	if l.clockGuard == nil {
		return
	}
	l.clockGuard.sawLicenses(l.licenses)
	for _, p := range l.pools {
		if dated(p.grants) {
			p.clock = l.clockGuard
		}
	}
}

// sawStored records the latest time found in stored leases: each
// checkout stored its time, so a restart with the clock set back is
// noticed even before the first time the daemon persisted.
func (l *Ledger) sawStored(leases []Lease) {
	for _, ls := range leases {
		l.clockGuard.Saw(ls.IssuedAt)
	}
}
