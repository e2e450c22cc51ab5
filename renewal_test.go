package usher_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func TestRenewalRoundTripAndTampering(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	r := &usher.Renewal{LicenseID: "lic_0123", IssuedAt: t0, Until: t0.Add(90 * day)}
	text, err := usher.SignRenewal(r, priv)
	if err != nil {
		t.Fatal(err)
	}
	keys := usher.NewKeyring(pub)
	got, err := keys.VerifyRenewal(text)
	if err != nil {
		t.Fatalf("VerifyRenewal: %v", err)
	}
	if got.LicenseID != r.LicenseID || !got.IssuedAt.Equal(t0) || !got.Until.Equal(r.Until) || got.KeyID != usher.KeyID(pub) {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	begin := bytes.Index(text, []byte("format:"))
	end := bytes.Index(text, []byte("-----END"))
	for i := begin; i < end; i++ {
		bad := bytes.Clone(text)
		bad[i] ^= 0x01
		if _, err := keys.VerifyRenewal(bad); usher.ErrorCode(err) != usher.ELicenseInvalid {
			t.Fatalf("byte %d changed: got %v, want %s", i, err, usher.ELicenseInvalid)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := usher.NewKeyring(other).VerifyRenewal(text); usher.ErrorCode(err) != usher.ELicenseInvalid {
		t.Fatalf("untrusted key: got %v, want %s", err, usher.ELicenseInvalid)
	}
	if _, err := usher.SignRenewal(&usher.Renewal{LicenseID: "lic_x", IssuedAt: t0, Until: t0}, priv); usher.ErrorCode(err) != usher.EInvalid {
		t.Fatalf("until not after now: got %v, want %s", err, usher.EInvalid)
	}
}

func TestRenewLicenseRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain := f.add(usher.Grant{Feature: "cad", Seats: 1})
	cp := f.add(usher.Grant{Feature: "sim", Seats: 1, RenewEvery: 30 * day})
	renew := func(id string, until time.Time) error {
		text, err := usher.SignRenewal(&usher.Renewal{LicenseID: id, IssuedAt: f.clock.Now(), Until: until}, f.priv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ledger.RenewLicense(ctx, text)
		return err
	}
	wantCode(t, renew("lic_missing", t0.Add(90*day)), usher.ELicenseNotFound)
	wantCode(t, renew(plain.ID, t0.Add(90*day)), usher.EInvalid)
	f.clock.Advance(10 * day)
	if err := renew(cp.ID, t0.Add(90*day)); err != nil {
		t.Fatal(err)
	}
	f.wantServed("sim", 1, t0.Add(40*day-time.Second)) // renew_every after the renewal
	wantCode(t, renew(cp.ID, t0.Add(80*day)), usher.ELicenseInvalid)
	f.reopen()
	f.wantServed("sim", 1, t0.Add(40*day-time.Second)) // the renewal is kept
	f.clock.Set(t0.Add(70 * day))
	if err := renew(cp.ID, t0.Add(90*day)); err != nil {
		t.Fatal(err)
	}
	f.wantServed("sim", 1, t0.Add(90*day-time.Second)) // never past until
}
