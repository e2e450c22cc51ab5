package usher

// unserved returns the name of an optional attribute g uses that this
// server's ledger does not enforce, or "". A license using one is refused
// rather than served without it.
func (g Grant) unserved() string {
	switch {
	case g.Scope != "":
		return "scope"
	case g.Version != "":
		return "version"
	case g.Linger != 0:
		return "linger"
	case g.Borrow != 0:
		return "borrow"
	}
	return ""
}

// checkServed refuses a license that uses a grant attribute the ledger
// does not enforce.
//
// Errors: ELicenseInvalid.
func (l *License) checkServed() error {
	for _, g := range l.Grants {
		if a := g.unserved(); a != "" {
			return Errorf(ELicenseInvalid, "license %s: feature %s uses the attribute %s=, which this server does not enforce: upgrade Usher to serve it", l.ID, g.Feature, a)
		}
	}
	return nil
}
