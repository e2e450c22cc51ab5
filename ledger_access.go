package usher

import (
	"context"
	"sort"
	"sync"
	"time"
)

// access is the ledger's state of who may use a seat: the Licensee Secret
// bindings and the registered users. Its maps are guarded by the ledger's
// lock; writeMu serializes the writes of bindings and registrations, and
// is taken before the ledger's lock.
type access struct {
	writeMu sync.Mutex
	binds   map[string]*secretBind              // by license ID
	users   map[string]map[string]*Registration // by feature, then user
}

// secretBind is a binding as the ledger tracks it: made in memory when a
// checkout decides it, and durable once a write of it succeeded.
type secretBind struct {
	SecretBinding
	durable bool
	writes  int // writes of it under way
}

// grantAccess is what a grant of a gated or named feature stores before
// its lease: the bindings it relies on that are not durable yet, and the
// registration whose last checkout it updates.
type grantAccess struct {
	binds []*secretBind
	user  *Registration
}

func (a *access) restore(snap *Snapshot) {
	a.binds = make(map[string]*secretBind, len(snap.SecretBindings))
	for _, b := range snap.SecretBindings {
		a.binds[b.LicenseID] = &secretBind{SecretBinding: b, durable: true}
	}
	a.users = make(map[string]map[string]*Registration)
	for _, r := range snap.Registrations {
		r.ID = RegistrationID(r.Feature, r.User)
		a.feature(r.Feature)[r.User] = &r
	}
}

// feature returns the registrations of a feature, making the map.
func (a *access) feature(name string) map[string]*Registration {
	m := a.users[name]
	if m == nil {
		m = make(map[string]*Registration)
		a.users[name] = m
	}
	return m
}

// accessLocked decides whether req may use the seats of a feature with a
// Licensee Secret or registered users, and which: the seats of the grants
// whose license's secret req satisfies. It returns them with what the
// grant must store first.
func (l *Ledger) accessLocked(p *pool, req CheckoutRequest, now time.Time, seats int, unlimited bool) (int, bool, *grantAccess, error) {
	acc := &grantAccess{}
	if p.named {
		reg := l.access.users[req.Feature][req.Client.User]
		if reg == nil {
			return 0, false, nil, userNotRegistered(req)
		}
		acc.user = reg
	}
	if p.secret != nil {
		var err error
		if seats, unlimited, acc.binds, err = l.secretSeatsLocked(p, req, now); err != nil {
			return 0, false, nil, err
		}
	}
	return seats, unlimited, acc, nil
}

// refusesWhoLocked reports whether code refuses a waiter for who it is (an
// unregistered user, a secret that no longer matches), so that the seat
// goes to the next in line.
func refusesWhoLocked(code string) bool {
	return code == EUserNotRegistered || code == ELicenseeSecretMismatch || code == ELicenseeSecretRequired
}

// secretSeatsLocked adds up the seats of the active grants whose license's
// Licensee Secret req satisfies. When it satisfies none, the refusal of the
// first license says why.
func (l *Ledger) secretSeatsLocked(p *pool, req CheckoutRequest, now time.Time) (seats int, unlimited bool, binds []*secretBind, err error) {
	var hash string
	if req.Secret != "" {
		hash = HashSecret(req.Secret)
	}
	closed := p.closedNeeds()
	usable := false
	for _, g := range p.secret.grants {
		if !g.ActiveAt(now) || (closed != 0 && licenseNeeds(g.lic, p.gate, p.hw)&closed != 0) {
			continue
		}
		b, rerr := l.secretEntitledLocked(g.lic, req.Feature, hash, now)
		if rerr != nil {
			err = cmpOr(err, rerr)
			continue
		}
		if b != nil && !containsBind(binds, b.LicenseID) {
			binds = append(binds, b)
		}
		usable = true
		seats += g.Seats
		unlimited = unlimited || g.Unlimited
	}
	if !usable {
		return 0, false, nil, err
	}
	return seats, unlimited, binds, nil
}

// closedNeeds returns the gates of p that are blocked now.
func (p *pool) closedNeeds() gateNeed {
	var closed gateNeed
	if _, blocked := p.gate.Blocked(); blocked {
		closed |= needIdentity
	}
	if _, blocked := p.hw.Blocked(); blocked {
		closed |= needHardwareKey
	}
	return closed
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func containsBind(binds []*secretBind, licenseID string) bool {
	for _, b := range binds {
		if b.LicenseID == licenseID {
			return true
		}
	}
	return false
}

// secretEntitledLocked checks a checkout's secret hash against a license.
// It returns the binding the checkout relies on when that is not durable
// yet, or a new one when it binds the license.
func (l *Ledger) secretEntitledLocked(lic *License, feature, hash string, now time.Time) (*secretBind, error) {
	switch lic.LicenseeSecret {
	case SecretPredefined:
		if hash == "" {
			return nil, secretRequired(lic, feature)
		}
		if !sameHash(hash, lic.SecretHash) {
			return nil, secretMismatch(lic, feature)
		}
	case SecretClient:
		if hash == "" {
			return nil, secretRequired(lic, feature)
		}
		b := l.access.binds[lic.ID]
		switch {
		case b == nil:
			return &secretBind{SecretBinding: SecretBinding{LicenseID: lic.ID, Hash: hash, BoundAt: now}}, nil
		case !sameHash(hash, b.Hash):
			return nil, secretMismatch(lic, feature)
		case !b.durable:
			return b, nil
		}
	}
	return nil, nil
}

func secretRequired(lic *License, feature string) error {
	return Errorf(ELicenseeSecretRequired, "feature %s is granted by license %s, which needs a licensee secret, and the checkout presented none: set the secret in the application (client.Options.LicenseeSecret, or client.MachineSecret())", feature, lic.ID)
}

func secretMismatch(lic *License, feature string) error {
	return Errorf(ELicenseeSecretMismatch, "the licensee secret presented does not match license %s (feature %s): use the secret the license was issued for or bound to; only the vendor can unbind a license (usher vendor unbind)", lic.ID, feature)
}

// takeAccessLocked records what a grant decided: the bindings it makes
// take effect at once, so that a concurrent first checkout with another
// secret is refused, and every binding it relies on counts one more write
// under way.
func (l *Ledger) takeAccessLocked(acc *grantAccess) *grantAccess {
	if acc == nil {
		return nil
	}
	for _, b := range acc.binds {
		if l.access.binds[b.LicenseID] == nil {
			l.access.binds[b.LicenseID] = b
		}
		b.writes++
	}
	return acc
}

// storeAccess makes the bindings a grant relies on durable, before its
// lease is. A binding that no write made durable is forgotten again.
func (l *Ledger) storeAccess(acc *grantAccess) error {
	if acc == nil || len(acc.binds) == 0 {
		return nil
	}
	l.access.writeMu.Lock()
	defer l.access.writeMu.Unlock()
	var err error
	for _, b := range acc.binds {
		l.mu.Lock()
		live, done := l.access.binds[b.LicenseID] == b, b.durable
		l.mu.Unlock()
		if err == nil && live && !done {
			err = l.store.PutSecretBinding(context.Background(), b.SecretBinding)
		}
		l.settleBind(b, live && err == nil)
		if err == nil && live && !done {
			l.logger.Info("license bound to a licensee secret", "license", b.LicenseID)
			l.emit(Event{Type: EventSecretBound, LicenseID: b.LicenseID})
		}
	}
	return err
}

// settleBind ends one write of b: it is durable if ok, and forgotten if no
// write made it durable.
func (l *Ledger) settleBind(b *secretBind, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.writes--
	if ok {
		b.durable = true
	}
	if !b.durable && b.writes == 0 && l.access.binds[b.LicenseID] == b {
		delete(l.access.binds, b.LicenseID)
	}
}

// noteCheckout records the checkout of a registered user. A failure to
// store it costs the user nothing: it is logged.
func (l *Ledger) noteCheckout(acc *grantAccess, lease Lease) {
	if acc.user == nil {
		return
	}
	l.access.writeMu.Lock()
	defer l.access.writeMu.Unlock()
	l.mu.Lock()
	reg := l.access.users[lease.Feature][lease.Client.User]
	var r Registration
	if reg != nil {
		reg.LastCheckoutAt = lease.IssuedAt
		r = *reg
	}
	l.mu.Unlock()
	if reg == nil {
		return // unassigned meanwhile
	}
	if err := l.store.PutRegistrations(context.Background(), []Registration{r}); err != nil {
		l.logger.Warn("last checkout of a registered user not stored", "feature", LogSafe(r.Feature), "user", LogSafe(r.User), "err", err)
	}
}

// SecretBindings returns the stored Licensee Secret bindings, by license
// ID, including those of licenses no longer loaded.
func (l *Ledger) SecretBindings() []SecretBinding {
	l.mu.Lock()
	out := make([]SecretBinding, 0, len(l.access.binds))
	for _, b := range l.access.binds {
		if b.durable {
			out = append(out, b.SecretBinding)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].LicenseID < out[j].LicenseID })
	return out
}

// SecretBinding returns the binding of one license, if it is bound.
func (l *Ledger) SecretBinding(licenseID string) (SecretBinding, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.access.binds[licenseID]
	if b == nil || !b.durable {
		return SecretBinding{}, false
	}
	return b.SecretBinding, true
}

// Unbind lifts a Licensee Secret binding with an unbind file the vendor
// signed (usher vendor unbind): the next checkout that presents a secret
// binds the license again. A file lifts only a binding made before it was
// issued (to the second), and only until it expires, so it cannot be used
// twice.
//
// Errors: EUnbindInvalid, ESecretNotBound, or a store failure.
func (l *Ledger) Unbind(ctx context.Context, text []byte) (SecretBinding, error) {
	u, err := l.keys.VerifyUnbind(text)
	if err != nil {
		return SecretBinding{}, err
	}
	now := l.now()
	if now.After(u.ExpiresAt) {
		return SecretBinding{}, Errorf(EUnbindInvalid, "the unbind file for license %s expired on %s: ask the vendor for a new one", u.LicenseID, formatTime(u.ExpiresAt))
	}
	l.access.writeMu.Lock()
	defer l.access.writeMu.Unlock()
	b, ok := l.SecretBinding(u.LicenseID)
	if !ok {
		return SecretBinding{}, Errorf(ESecretNotBound, "license %s is not bound to a licensee secret: there is nothing to unbind", u.LicenseID)
	}
	if b.BoundAt.Truncate(time.Second).After(u.IssuedAt) { // files carry whole seconds
		return SecretBinding{}, Errorf(EUnbindInvalid, "license %s was bound again on %s, after this unbind file was issued (%s): an unbind file lifts one binding only; ask the vendor for a new one", u.LicenseID, formatTime(b.BoundAt), formatTime(u.IssuedAt))
	}
	if err := l.store.DeleteSecretBinding(context.WithoutCancel(ctx), u.LicenseID); err != nil {
		return SecretBinding{}, err
	}
	l.mu.Lock()
	delete(l.access.binds, u.LicenseID)
	l.mu.Unlock()
	l.logger.Info("licensee secret binding lifted by the vendor's unbind file", "license", u.LicenseID)
	l.emit(Event{Type: EventSecretUnbound, LicenseID: u.LicenseID})
	return b, nil
}
