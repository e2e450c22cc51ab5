package usher

import (
	"context"
	"sort"
)

// ReleaseLicense gives up a loaded license for good, to move it to another
// server: it records the release durably, stops serving the license, and
// returns a receipt signed by this server's identity key for the vendor
// (see Receipt). The license cannot be loaded here again. Leases already
// granted live on until released or reclaimed, as after RemoveLicense.
//
// A license that is not bound to this server may be released as well; its
// receipt says so, and proves nothing to the vendor.
//
// Errors: ELicenseNotFound, EUnavailable (this server has no identity key
// to sign with), or a store failure.
func (l *Ledger) ReleaseLicense(ctx context.Context, id string) (*License, []byte, error) {
	l.licMu.Lock()
	defer l.licMu.Unlock()
	l.mu.Lock()
	lic := l.licenses[id]
	_, refused := l.refused[id]
	l.mu.Unlock()
	if lic == nil && refused {
		return nil, nil, Errorf(ELicenseNotFound, "license %s is stored but not served here (see usher license list), so this server cannot release it: remove it with usher license remove", id)
	}
	if lic == nil {
		return nil, nil, Errorf(ELicenseNotFound, "license %s is not loaded: see the loaded ones with usher license list", id)
	}
	if l.identity == nil || l.identity.Signer == nil {
		return nil, nil, Errorf(EUnavailable, "this server has no identity key to sign a release receipt with: release the license on a server started with a data directory")
	}
	r := &Receipt{LicenseID: id, ServerKey: l.identity.Key, Bound: lic.BindServer != nil, ReleasedAt: l.clock()}
	text, err := SignReceipt(r, l.identity.Signer)
	if err != nil {
		return nil, nil, err
	}
	// Released first: a crash before the delete leaves a stored license
	// that the next start refuses as released.
	rec := ReleasedLicense{ID: id, ReleasedAt: r.ReleasedAt, Receipt: text}
	if err := l.store.PutReleased(ctx, rec); err != nil {
		return nil, nil, err
	}
	if err := l.store.DeleteLicense(ctx, id); err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	delete(l.licenses, id)
	l.released[id] = rec
	l.rebuildPoolsLocked() // subscription.go
	l.mu.Unlock()
	l.emit(Event{Type: EventLicenseRemoved, LicenseID: id})
	return lic, text, nil
}

// ReleasedLicenses returns the licenses this server released, sorted by
// ID, with their receipts.
func (l *Ledger) ReleasedLicenses() []ReleasedLicense {
	l.mu.Lock()
	out := make([]ReleasedLicense, 0, len(l.released))
	for _, r := range l.released {
		out = append(out, r)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkReleasedLocked refuses a license this server released.
func (l *Ledger) checkReleasedLocked(id string) error {
	if r, ok := l.released[id]; ok {
		return Errorf(ELicenseReleased, "license %s was released on this server at %s and moved to another one: it cannot be loaded here again; ask the vendor for a new license for this server",
			id, formatTime(r.ReleasedAt))
	}
	return nil
}
