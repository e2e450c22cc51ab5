package usher

import "time"

// licenseAt returns the ID of the license that grants the feature at now,
// for the lease token: of the grants active at now (only unbound ones
// while bound licenses are held elsewhere), the one that expires last (a
// grant without expiry last of all), the smallest license ID among equals.
// Where licenses stack, the token names this one license; a client that
// verifies tokens needs only that it grants the feature. It returns ""
// when p is nil or no grant is active (the feature was removed).
func (p *pool) licenseAt(now time.Time) string {
	if p == nil {
		return ""
	}
	grants, from := p.grants, p.from
	if p.gate != nil {
		if _, blocked := p.gate.Blocked(); blocked {
			grants, from = p.unbound, p.unboundFrom
		}
	}
	best := -1
	for i, g := range grants {
		if g.ActiveAt(now) && (best < 0 || expiresLater(g, grants[best]) ||
			(g.ExpiresAt.Equal(grants[best].ExpiresAt) && from[i] < from[best])) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return from[best]
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
