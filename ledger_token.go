package usher

import "time"

// licenseAt returns the ID of the license that grants the feature at now,
// for the lease token: of the grants active at now whose gates are open,
// the one that expires last (a grant without expiry last of all), the
// smallest license ID among equals. Where licenses stack, the token names
// this one license; a client that verifies tokens needs only that it
// grants the feature. It returns "" when p is nil or no grant is active
// (the feature was removed).
func (p *pool) licenseAt(now time.Time) string {
	if p == nil {
		return ""
	}
	var closed gateNeed
	if _, blocked := p.gate.Blocked(); blocked {
		closed |= needIdentity
	}
	if _, blocked := p.hw.Blocked(); blocked {
		closed |= needHardwareKey
	}
	best := -1
	for i, g := range p.grants {
		if closed != 0 && p.needs[i]&closed != 0 || !g.ActiveAt(now) {
			continue
		}
		if best < 0 || expiresLater(g, p.grants[best]) || (g.ExpiresAt.Equal(p.grants[best].ExpiresAt) && p.from[i] < p.from[best]) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return p.from[best]
}

// expiresLater reports whether a expires after b; never is latest.
func expiresLater(a, b Grant) bool {
	switch {
	case a.ExpiresAt.IsZero():
		return !b.ExpiresAt.IsZero()
	case b.ExpiresAt.IsZero():
		return false
	}
	return a.ExpiresAt.After(b.ExpiresAt)
}
