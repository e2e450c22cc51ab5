package usher

import (
	"context"
	"sort"
)

// AddLicense verifies a signed license file and starts serving its seats.
// Grants for a feature that is already licensed stack with it.
//
// Errors: ELicenseInvalid, ELicenseBoundElsewhere, ELicenseExists,
// ELicenseReleased, or a store failure.
func (l *Ledger) AddLicense(ctx context.Context, text []byte) (*License, error) {
	lic, err := l.addLicense(ctx, text)
	if err != nil {
		return nil, err
	}
	l.removeEndedTickets(ctx, lic) // subscription.go
	return lic, nil
}

func (l *Ledger) addLicense(ctx context.Context, text []byte) (*License, error) {
	lic, err := l.verify(text)
	if err != nil {
		return nil, err
	}
	l.licMu.Lock()
	defer l.licMu.Unlock()
	l.mu.Lock()
	_, exists := l.licenses[lic.ID]
	scopeErr := l.checkScopesLocked(lic)
	released := l.checkReleasedLocked(lic.ID)
	l.mu.Unlock()
	if released != nil {
		return nil, released
	}
	if exists {
		return nil, Errorf(ELicenseExists, "license %s is already loaded: remove it first to load it again", lic.ID)
	}
	if scopeErr != nil {
		return nil, scopeErr
	}
	if err := l.activate(ctx, lic); err != nil { // subscription.go
		return nil, err
	}
	if err := l.store.PutLicense(ctx, LicenseRecord{ID: lic.ID, Text: lic.Text}); err != nil {
		return nil, err
	}
	l.mu.Lock()
	delete(l.refused, lic.ID) // an intact copy replaces a refused one
	l.licenses[lic.ID] = lic
	l.rebuildPoolsLocked()
	at := l.tick()
	for _, g := range lic.Grants {
		l.serveQueueLocked(g.Feature, at)
	}
	l.mu.Unlock()
	l.emit(Event{Type: EventLicenseAdded, LicenseID: lic.ID})
	return lic, nil
}

// RemoveLicense stops serving a license, or deletes a stored license that
// was refused at start. Leases already granted live on
// until released or reclaimed, but no checkout is granted above the new,
// lower total: seats are never over-allocated.
//
// Errors: ELicenseNotFound, or a store failure.
func (l *Ledger) RemoveLicense(ctx context.Context, id string) (*License, error) {
	l.licMu.Lock()
	defer l.licMu.Unlock()
	l.mu.Lock()
	lic := l.licenses[id]
	_, refused := l.refused[id]
	l.mu.Unlock()
	if lic == nil && !refused {
		return nil, Errorf(ELicenseNotFound, "license %s is not loaded: see the loaded ones with usher license list", id)
	}
	if lic == nil {
		lic = &License{ID: id}
	}
	if err := l.store.DeleteLicense(ctx, id); err != nil {
		return nil, err
	}
	l.mu.Lock()
	delete(l.licenses, id)
	delete(l.refused, id)
	l.rebuildPoolsLocked()
	l.mu.Unlock()
	l.emit(Event{Type: EventLicenseRemoved, LicenseID: id})
	return lic, nil
}

// verify checks a license file's signature and that this server may serve
// it. Errors: ELicenseInvalid, ELicenseBoundElsewhere.
func (l *Ledger) verify(text []byte) (*License, error) {
	lic, err := l.keys.Verify(text)
	if err != nil {
		return nil, err
	}
	if err := lic.CheckBinding(l.identity); err != nil {
		return nil, err
	}
	return lic, nil
}

// RefusedLicense is a stored license that is not served, and why.
type RefusedLicense struct {
	ID     string `json:"id"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// RefusedLicenses returns the stored licenses refused at start, sorted by
// ID: their seats are not served until they are removed or replaced.
func (l *Ledger) RefusedLicenses() []RefusedLicense {
	l.mu.Lock()
	out := make([]RefusedLicense, 0, len(l.refused))
	for id, err := range l.refused {
		out = append(out, RefusedLicense{ID: id, Code: ErrorCode(err), Reason: errorText(err)})
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Licenses returns the loaded licenses, sorted by ID.
func (l *Ledger) Licenses() []*License {
	l.mu.Lock()
	out := make([]*License, 0, len(l.licenses))
	for _, lic := range l.licenses {
		out = append(out, lic)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
