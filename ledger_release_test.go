package usher_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
)

func (m *memStore) PutReleased(_ context.Context, r usher.ReleasedLicense) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.released == nil {
		m.released = make(map[string]usher.ReleasedLicense)
	}
	m.released[r.ID] = r
	return nil
}

// signingIdentity returns a server identity that can sign receipts.
func signingIdentity(t *testing.T, host string) *usher.ServerIdentity {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &usher.ServerIdentity{Key: pub, Host: hostTraits(host), Signer: priv}
}

func TestReleaseLicenseSignsAReceiptAndRefusesItBack(t *testing.T) {
	ctx := context.Background()
	id := signingIdentity(t, "a")
	f := boundFixture(t, id, nil)
	text := f.signBound(id.Key, nil, usher.Grant{Feature: "cad", Seats: 1})
	lic, err := f.ledger.AddLicense(ctx, text)
	if err != nil {
		t.Fatalf("AddLicense: %v", err)
	}
	got, receipt, err := f.ledger.ReleaseLicense(ctx, lic.ID)
	if err != nil {
		t.Fatalf("ReleaseLicense: %v", err)
	}
	if got.ID != lic.ID {
		t.Fatalf("released %s, want %s", got.ID, lic.ID)
	}
	r, err := usher.ParseReceipt(receipt)
	if err != nil {
		t.Fatalf("ParseReceipt of\n%s: %v", receipt, err)
	}
	if r.LicenseID != lic.ID || !r.ServerKey.Equal(id.Key) || !r.Bound || !r.ReleasedAt.Equal(t0.Truncate(1e9)) {
		t.Fatalf("got receipt %+v, want license %s, this server's key, bound, released at %v", r, lic.ID, t0)
	}
	if err := r.Check(lic); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, err := f.checkout("cad", "c1"); !errors.Is(err, usher.ErrFeatureNotFound) {
		t.Fatalf("checkout after release: got %v, want feature_not_found", err)
	}
	if _, err := f.ledger.AddLicense(ctx, text); !errors.Is(err, usher.ErrLicenseReleased) {
		t.Fatalf("AddLicense after release: got %v, want license_released", err)
	}
	f.reopenAs(id, nil)
	if _, err := f.ledger.AddLicense(ctx, text); !errors.Is(err, usher.ErrLicenseReleased) {
		t.Fatalf("AddLicense after restart: got %v, want license_released", err)
	}
	if rel := f.ledger.ReleasedLicenses(); len(rel) != 1 || rel[0].ID != lic.ID || !bytes.Equal(rel[0].Receipt, receipt) {
		t.Fatalf("got released %+v, want %s with its receipt", rel, lic.ID)
	}
}

func TestStoredLicenseReleasedBeforeACrashIsRefused(t *testing.T) {
	ctx := context.Background()
	id := signingIdentity(t, "a")
	f := boundFixture(t, id, nil)
	text := f.signBound(id.Key, nil, usher.Grant{Feature: "cad", Seats: 1})
	lic, err := f.ledger.AddLicense(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	// A crash between recording the release and deleting the license.
	if err := f.store.PutReleased(ctx, usher.ReleasedLicense{ID: lic.ID, ReleasedAt: t0}); err != nil {
		t.Fatal(err)
	}
	f.reopenAs(id, nil)
	refused := f.ledger.RefusedLicenses()
	if len(refused) != 1 || refused[0].Code != usher.ELicenseReleased {
		t.Fatalf("got refused %+v, want %s refused as license_released", refused, lic.ID)
	}
	if _, err := f.checkout("cad", "c1"); err == nil {
		t.Fatal("checkout of a released license was granted")
	}
}

func TestReleaseLicenseErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, _, err := f.ledger.ReleaseLicense(ctx, "lic_missing"); !errors.Is(err, usher.ErrLicenseNotFound) {
		t.Fatalf("release of a missing license: got %v, want license_not_found", err)
	}
	lic, err := f.ledger.AddLicense(ctx, f.sign(usher.Grant{Feature: "cad", Seats: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ledger.ReleaseLicense(ctx, lic.ID); !errors.Is(err, usher.ErrUnavailable) {
		t.Fatalf("release without an identity: got %v, want unavailable", err)
	}
}

func TestUnboundReleaseReceiptProvesNothing(t *testing.T) {
	ctx := context.Background()
	id := signingIdentity(t, "a")
	f := boundFixture(t, id, nil)
	lic, err := f.ledger.AddLicense(ctx, f.sign(usher.Grant{Feature: "cad", Seats: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, receipt, err := f.ledger.ReleaseLicense(ctx, lic.ID)
	if err != nil {
		t.Fatalf("ReleaseLicense of an unbound license: %v", err)
	}
	r, err := usher.ParseReceipt(receipt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bound {
		t.Fatal("receipt of an unbound license says bound")
	}
	if err := r.Check(lic); !errors.Is(err, usher.ErrInvalid) || !strings.Contains(err.Error(), "not bound") {
		t.Fatalf("Check of an unbound license: got %v, want invalid_request saying it is not bound", err)
	}
}

func TestReceiptForgedOrForeignIsRefused(t *testing.T) {
	ctx := context.Background()
	id := signingIdentity(t, "a")
	f := boundFixture(t, id, nil)
	lic, err := f.ledger.AddLicense(ctx, f.signBound(id.Key, nil, usher.Grant{Feature: "cad", Seats: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, receipt, err := f.ledger.ReleaseLicense(ctx, lic.ID)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(receipt, []byte("license: "+lic.ID), []byte("license: lic_other"), 1)
	if _, err := usher.ParseReceipt(forged); !errors.Is(err, usher.ErrInvalid) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("forged receipt: got %v, want invalid_request about the signature", err)
	}
	if _, err := usher.ParseReceipt([]byte("hello")); !errors.Is(err, usher.ErrInvalid) {
		t.Fatalf("not a receipt: got %v, want invalid_request", err)
	}
	// A receipt that another server signed for the same license ID.
	other := signingIdentity(t, "b")
	foreign, err := usher.SignReceipt(&usher.Receipt{LicenseID: lic.ID, ServerKey: other.Key, Bound: true, ReleasedAt: t0}, other.Signer)
	if err != nil {
		t.Fatal(err)
	}
	r, err := usher.ParseReceipt(foreign)
	if err != nil {
		t.Fatalf("ParseReceipt of a well-signed foreign receipt: %v", err)
	}
	if err := r.Check(lic); !errors.Is(err, usher.ErrInvalid) || !strings.Contains(err.Error(), "only the server a license is bound to") {
		t.Fatalf("foreign receipt: got %v, want invalid_request naming the bound server", err)
	}
	if _, err := usher.SignReceipt(&usher.Receipt{LicenseID: lic.ID, ServerKey: id.Key}, other.Signer); err == nil {
		t.Fatal("SignReceipt with a key other than the receipt's server key succeeded")
	}
}

func TestBindVolume(t *testing.T) {
	ctx := context.Background()
	id := signingIdentity(t, "a")
	id.Volume = usher.NewVolumeID()
	f := boundFixture(t, id, nil)
	sign := func(volume string) []byte {
		lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}, BindVolume: volume}
		text, err := usher.Sign(lic, f.priv)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	text := sign(id.Volume)
	if !bytes.Contains(text, []byte("format: 2\nid: ")) || !bytes.Contains(text, []byte("bind-volume: "+id.Volume+"\n")) {
		t.Fatalf("got license\n%s\nwant format 2 with a bind-volume line", text)
	}
	lic, err := f.ledger.AddLicense(ctx, text)
	if err != nil {
		t.Fatalf("AddLicense on its volume: %v", err)
	}
	if !lic.Bound() || lic.BindVolume != id.Volume {
		t.Fatalf("got bound %v volume %q, want bound to %s", lic.Bound(), lic.BindVolume, id.Volume)
	}
	other := usher.NewVolumeID()
	if _, err := f.ledger.AddLicense(ctx, sign(other)); !errors.Is(err, usher.ErrLicenseBoundElsewhere) || !strings.Contains(err.Error(), other) {
		t.Fatalf("AddLicense on another volume: got %v, want license_bound_elsewhere naming %s", err, other)
	}
	if _, err := usher.ParseVolumeID("not-a-volume"); !errors.Is(err, usher.ErrInvalid) {
		t.Fatalf("ParseVolumeID of garbage: got %v, want invalid_request", err)
	}
}
