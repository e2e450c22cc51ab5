package usher_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

// memAccess is memStore's part for bindings and registrations.
type memAccess struct {
	binds map[string]usher.SecretBinding
	regs  map[string]usher.Registration
	// failBind, if set, fails PutSecretBinding.
	failBind error
}

func (a *memAccess) load(snap *usher.Snapshot) {
	for _, b := range a.binds {
		snap.SecretBindings = append(snap.SecretBindings, b)
	}
	for _, r := range a.regs {
		snap.Registrations = append(snap.Registrations, r)
	}
}

func (m *memStore) PutSecretBinding(_ context.Context, b usher.SecretBinding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := cmpErr(m.fail, m.access.failBind); err != nil {
		return err
	}
	if m.access.binds == nil {
		m.access.binds = map[string]usher.SecretBinding{}
	}
	m.access.binds[b.LicenseID] = b
	return nil
}

func (m *memStore) DeleteSecretBinding(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	delete(m.access.binds, id)
	return nil
}

func (m *memStore) PutRegistrations(_ context.Context, regs []usher.Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.access.regs == nil {
		m.access.regs = map[string]usher.Registration{}
	}
	for _, r := range regs {
		m.access.regs[usher.RegistrationID(r.Feature, r.User)] = r
	}
	return nil
}

func (m *memStore) DeleteRegistrations(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, id := range ids {
		delete(m.access.regs, id)
	}
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// addSecret loads a license with a Licensee Secret mode.
func (f *fixture) addSecret(mode, hash string, grants ...usher.Grant) *usher.License {
	f.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: grants, LicenseeSecret: mode, SecretHash: hash}
	text, err := usher.Sign(lic, f.priv)
	if err != nil {
		f.t.Fatalf("Sign: %v", err)
	}
	out, err := f.ledger.AddLicense(context.Background(), text)
	if err != nil {
		f.t.Fatalf("AddLicense: %v", err)
	}
	return out
}

func (f *fixture) checkoutSecret(feature, client, secret string) (usher.Lease, error) {
	l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client, Secret: secret}})
	return l, err
}

func TestLicenseeSecretLinesRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ mode, hash, want string }{
		{usher.SecretClient, "", "licensee_secret: client\n"},
		{usher.SecretDisabled, "", "licensee_secret: disabled\n"},
		{usher.SecretPredefined, usher.HashSecret("s3"), "licensee_secret: predefined\nlicensee_secret_hash: " + usher.HashSecret("s3") + "\n"},
	} {
		lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}, LicenseeSecret: tc.mode, SecretHash: tc.hash}
		text, err := usher.Sign(lic, f.priv)
		if err != nil {
			t.Fatalf("Sign %s: %v", tc.mode, err)
		}
		if !bytes.Contains(text, []byte("format: 3\n")) || !bytes.Contains(text, []byte(tc.want)) {
			t.Fatalf("got license\n%s\nwant format 3 and %q", text, tc.want)
		}
		got, err := f.keys.Verify(text)
		if err != nil {
			t.Fatalf("Verify %s: %v", tc.mode, err)
		}
		if got.LicenseeSecret != tc.mode || got.SecretHash != tc.hash {
			t.Fatalf("got mode %q hash %q, want %q %q", got.LicenseeSecret, got.SecretHash, tc.mode, tc.hash)
		}
	}
}

func TestLicenseeSecretRefusesBadModes(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ mode, hash string }{
		{"sometimes", ""},
		{usher.SecretPredefined, ""},
		{usher.SecretPredefined, "sha256:abc"},
		{usher.SecretClient, usher.HashSecret("x")},
	} {
		lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}, LicenseeSecret: tc.mode, SecretHash: tc.hash}
		if _, err := usher.Sign(lic, f.priv); usher.ErrorCode(err) != usher.EInvalid {
			t.Fatalf("Sign mode %q hash %q: got %v, want invalid_request", tc.mode, tc.hash, err)
		}
	}
}

func TestLicenseeSecretPredefined(t *testing.T) {
	f := newFixture(t)
	f.addSecret(usher.SecretPredefined, usher.HashSecret("dongle-42"), usher.Grant{Feature: "cad", Seats: 2})
	_, err := f.checkoutSecret("cad", "c1", "")
	wantCode(t, err, usher.ELicenseeSecretRequired)
	_, err = f.checkoutSecret("cad", "c1", "wrong")
	wantCode(t, err, usher.ELicenseeSecretMismatch)
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error %q repeats the secret", err)
	}
	ls, err := f.checkoutSecret("cad", "c1", "dongle-42")
	if err != nil {
		t.Fatalf("checkout with the predefined secret: %v", err)
	}
	if ls.Client.Secret != "" {
		t.Fatalf("lease carries the secret: %+v", ls.Client)
	}
	if len(f.ledger.SecretBindings()) != 0 {
		t.Fatalf("a predefined license was bound: %+v", f.ledger.SecretBindings())
	}
}

func TestLicenseeSecretClientBindsFirstSecret(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 3})
	_, err := f.checkoutSecret("cad", "c0", "")
	wantCode(t, err, usher.ELicenseeSecretRequired)
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatalf("first checkout with a secret: %v", err)
	}
	b, ok := f.ledger.SecretBinding(lic.ID)
	if !ok || b.Hash != usher.HashSecret("machine-a") || !b.BoundAt.Equal(t0) {
		t.Fatalf("got binding %+v %v, want the hash of machine-a at %v", b, ok, t0)
	}
	if stored := f.store.access.binds[lic.ID]; stored.Hash != b.Hash {
		t.Fatalf("stored binding %+v, want %+v", stored, b)
	}
	_, err = f.checkoutSecret("cad", "c2", "machine-b")
	wantCode(t, err, usher.ELicenseeSecretMismatch)
	_, err = f.checkoutSecret("cad", "c2", "")
	wantCode(t, err, usher.ELicenseeSecretRequired)
	if _, err := f.checkoutSecret("cad", "c2", "machine-a"); err != nil {
		t.Fatalf("checkout with the bound secret: %v", err)
	}
	f.reopen()
	_, err = f.checkoutSecret("cad", "c3", "machine-b")
	wantCode(t, err, usher.ELicenseeSecretMismatch)
	if _, err := f.checkoutSecret("cad", "c3", "machine-a"); err != nil {
		t.Fatalf("checkout with the bound secret after a restart: %v", err)
	}
}

func TestLicenseeSecretConcurrentFirstCheckoutsOneWins(t *testing.T) {
	for round := 0; round < 20; round++ {
		f := newFixture(t)
		lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 10})
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.checkoutSecret("cad", "c"+string(rune('a'+i)), "secret-"+string(rune('a'+i)))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				wantCode(t, err, usher.ELicenseeSecretMismatch)
			}
		}
		b, ok := f.ledger.SecretBinding(lic.ID)
		if won != 1 || !ok || f.store.access.binds[lic.ID].Hash != b.Hash {
			t.Fatalf("round %d: %d checkouts won, binding %+v (%v), stored %+v: want exactly one winner, bound and stored", round, won, b, ok, f.store.access.binds[lic.ID])
		}
	}
}

func TestLicenseeSecretBindingFailsToStore(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	f.store.access.failBind = errors.New("disk full")
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err == nil {
		t.Fatal("checkout succeeded though its binding was not stored")
	}
	if _, ok := f.ledger.SecretBinding(lic.ID); ok {
		t.Fatal("a binding that failed to store is in force")
	}
	if got := f.feature("cad").InUse; got != 0 {
		t.Fatalf("got %d seats in use, want 0 after the failed checkout", got)
	}
	f.store.access.failBind = nil
	if _, err := f.checkoutSecret("cad", "c2", "machine-b"); err != nil {
		t.Fatalf("checkout after the failure: %v", err)
	}
	if b, _ := f.ledger.SecretBinding(lic.ID); b.Hash != usher.HashSecret("machine-b") {
		t.Fatalf("got binding %+v, want machine-b's", b)
	}
}

func TestLicenseeSecretDisabledKeepsBinding(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.RemoveLicense(context.Background(), lic.ID); err != nil {
		t.Fatal(err)
	}
	// The vendor reissues the same license with the secret disabled.
	again := &usher.License{ID: lic.ID, Licensee: "ACME Corp", IssuedAt: t0, Grants: lic.Grants, LicenseeSecret: usher.SecretDisabled}
	text, err := usher.Sign(again, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	if _, err := f.checkoutSecret("cad", "c2", "anything"); err != nil {
		t.Fatalf("checkout with the secret disabled: %v", err)
	}
	if _, err := f.checkoutSecret("cad", "c3", ""); err == nil {
		t.Fatal("want no seat left, got one") // two seats, both taken
	}
	if b, ok := f.ledger.SecretBinding(lic.ID); !ok || b.Hash != usher.HashSecret("machine-a") {
		t.Fatalf("got binding %+v (%v), want machine-a's kept", b, ok)
	}
}

func TestLicenseeSecretRemoveAndAddDoesNotUnbind(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.RemoveLicense(context.Background(), lic.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.AddLicense(context.Background(), lic.Text); err != nil {
		t.Fatal(err)
	}
	_, err := f.checkoutSecret("cad", "c2", "machine-b")
	wantCode(t, err, usher.ELicenseeSecretMismatch)
}

func TestLicenseeSecretSeatsOfOpenLicenseServeEveryone(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	f.addSecret(usher.SecretPredefined, usher.HashSecret("k"), usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "open1", ""); err != nil {
		t.Fatalf("checkout without a secret on the open seat: %v", err)
	}
	_, err := f.checkoutSecret("cad", "open2", "")
	wantCode(t, err, usher.ENoSeats)
	for _, c := range []string{"s1", "s2"} {
		if _, err := f.checkoutSecret("cad", c, "k"); err != nil {
			t.Fatalf("checkout %s with the secret: %v", c, err)
		}
	}
	_, err = f.checkoutSecret("cad", "s3", "k")
	wantCode(t, err, usher.ENoSeats)
}

func TestLicenseeSecretNeverInWaitersOrEvents(t *testing.T) {
	f := newFixture(t)
	f.addSecret(usher.SecretPredefined, usher.HashSecret("k"), usher.Grant{Feature: "cad", Seats: 1})
	if _, err := f.checkoutSecret("cad", "c1", "k"); err != nil {
		t.Fatal(err)
	}
	for _, ls := range f.ledger.Leases() {
		if ls.Client.Secret != "" {
			t.Fatalf("lease %s lists the secret", ls.ID)
		}
	}
	for _, ls := range f.store.leases {
		if ls.Client.Secret != "" {
			t.Fatalf("stored lease %s keeps the secret", ls.ID)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c2", Secret: "k"}, Wait: time.Minute})
		done <- err
	}()
	ushertest.WaitFor(t, 5*time.Second, time.Millisecond, ushertest.Until("a waiter in line", func() bool { return len(f.ledger.Waiters()) > 0 }))
	ws := f.ledger.Waiters()
	if len(ws) != 1 || ws[0].Client.Secret != "" {
		t.Fatalf("got waiters %+v, want one without the secret", ws)
	}
	cancel()
	<-done
}

func TestUnbindLiftsBindingOnce(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	l1, err := f.checkoutSecret("cad", "c1", "machine-a")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	file, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(24 * time.Hour)}, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.ledger.Unbind(context.Background(), file); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	if _, ok := f.ledger.SecretBinding(lic.ID); ok || len(f.store.access.binds) != 0 {
		t.Fatalf("binding still in force or stored after unbind: %+v", f.store.access.binds)
	}
	if _, err := f.ledger.Lease(l1.ID); err != nil {
		t.Fatalf("unbind ended the lease it should keep: %v", err)
	}
	_, err = f.ledger.Unbind(context.Background(), file)
	wantCode(t, err, usher.ESecretNotBound)
	if _, err := f.checkoutSecret("cad", "c2", "machine-b"); err != nil {
		t.Fatalf("checkout binding anew: %v", err)
	}
	_, err = f.ledger.Unbind(context.Background(), file)
	wantCode(t, err, usher.EUnbindInvalid) // the new binding is younger than the file
}

func TestUnbindRefusesForgedAndExpiredFiles(t *testing.T) {
	f := newFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	other := newFixture(t) // another vendor's key
	forged, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}, other.priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ledger.Unbind(context.Background(), forged)
	wantCode(t, err, usher.EUnbindInvalid)
	file, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(file, []byte(lic.ID), []byte("lic_00000000000000000000"), 1)
	tampered = bytes.Replace(tampered, []byte("unbind: "+lic.ID), []byte("unbind: lic_00000000000000000000"), 1)
	_, err = f.ledger.Unbind(context.Background(), tampered)
	wantCode(t, err, usher.EUnbindInvalid)
	f.clock.Advance(2 * time.Hour)
	_, err = f.ledger.Unbind(context.Background(), file)
	wantCode(t, err, usher.EUnbindInvalid)
	if _, ok := f.ledger.SecretBinding(lic.ID); !ok {
		t.Fatal("a refused unbind file lifted the binding")
	}
}

func TestLicenseeSecretEvents(t *testing.T) {
	f, obs := newObservedFixture(t)
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.checkoutSecret("cad", "c2", "machine-b"); usher.ErrorCode(err) != usher.ELicenseeSecretMismatch {
		t.Fatalf("got %v, want a mismatch", err)
	}
	var bound, denied int
	for _, ev := range obs.evs {
		if ev.Client.Secret != "" || strings.Contains(ev.Reason, "machine-") {
			t.Fatalf("event %+v carries the secret", ev)
		}
		switch {
		case ev.Type == usher.EventSecretBound && ev.LicenseID == lic.ID:
			bound++
		case ev.Type == usher.EventCheckoutDenied && ev.Reason == usher.ELicenseeSecretMismatch:
			denied++
		}
	}
	if bound != 1 || denied != 1 {
		t.Fatalf("got %d %s and %d denials for a mismatch, want 1 and 1: %+v", bound, usher.EventSecretBound, denied, obs.evs)
	}
}

// TestLicenseeSecretFollowsTheBindingGate: while the identity gate is
// blocked, a bound license's secret-gated seats neither serve nor bind.
func TestLicenseeSecretFollowsTheBindingGate(t *testing.T) {
	here := newIdentity(t, "here")
	gate := &usher.BindingGate{}
	f := boundFixture(t, here, gate)
	bound := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, BindServer: here.Key,
		LicenseeSecret: usher.SecretClient, Grants: []usher.Grant{{Feature: "cad", Seats: 2}}}
	text, err := usher.Sign(bound, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, lic := range [][]byte{text, f.sign(usher.Grant{Feature: "cad", Seats: 1})} {
		if _, err := f.ledger.AddLicense(context.Background(), lic); err != nil {
			t.Fatal(err)
		}
	}
	gate.Block("another server with this identity runs on this host")
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatalf("checkout on the open seat: %v", err)
	}
	if _, ok := f.ledger.SecretBinding(bound.ID); ok {
		t.Fatal("a license the gate keeps from serving was bound")
	}
	_, err = f.checkoutSecret("cad", "c2", "machine-a")
	wantCode(t, err, usher.ENoSeats)
	gate.Open()
	if _, err := f.checkoutSecret("cad", "c2", "machine-b"); err != nil {
		t.Fatalf("checkout once the gate opened: %v", err)
	}
	if b, ok := f.ledger.SecretBinding(bound.ID); !ok || b.Hash != usher.HashSecret("machine-b") {
		t.Fatalf("got binding %+v (%v), want machine-b's", b, ok)
	}
}

// TestUnbindInTheSecondOfTheBinding: an unbind file carries whole seconds,
// so one issued in the second the license was bound lifts that binding.
func TestUnbindInTheSecondOfTheBinding(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(500 * time.Millisecond))
	lic := f.addSecret(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 2})
	if _, err := f.checkoutSecret("cad", "c1", "machine-a"); err != nil {
		t.Fatal(err)
	}
	file, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: f.clock.Now().Add(100 * time.Millisecond), ExpiresAt: t0.Add(time.Hour)}, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.Unbind(context.Background(), file); err != nil {
		t.Fatalf("Unbind issued in the binding's second: %v", err)
	}
}
