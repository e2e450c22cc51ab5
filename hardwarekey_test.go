package usher_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
)

const serial = "4d2a9c51e0b3f7a8"

// signForKey signs a license that requires the hardware key serial.
func (f *fixture) signForKey(serial string, grants ...usher.Grant) []byte {
	f.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: grants, RequireHardwareKey: serial}
	text, err := usher.Sign(lic, f.priv)
	if err != nil {
		f.t.Fatal(err)
	}
	return text
}

// hardwareKeyFixture is a ledger fixture whose server holds its identity
// in the hardware key serial, accessible while hw is open.
func hardwareKeyFixture(t *testing.T, hw *usher.BindingGate) (*fixture, *usher.ServerIdentity) {
	t.Helper()
	id := newIdentity(t, "here")
	id.HardwareKey = serial
	f := newFixture(t)
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, Identity: id, HardwareKey: hw,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	return f, id
}

func TestRequireHardwareKeyRoundTrip(t *testing.T) {
	f := newFixture(t)
	text := f.signForKey(serial, usher.Grant{Feature: "cad", Seats: 1})
	if !bytes.Contains(text, []byte("format: 2\n")) || !bytes.Contains(text, []byte("require-hardware-key: "+serial+"\n")) {
		t.Fatalf("got license\n%s\nwant format 2 and a require-hardware-key line", text)
	}
	lic, err := f.keys.Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if lic.RequireHardwareKey != serial {
		t.Fatalf("got RequireHardwareKey %q, want %q", lic.RequireHardwareKey, serial)
	}
	bad := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: lic.Grants, RequireHardwareKey: "a b"}
	if _, err := usher.Sign(bad, f.priv); usher.ErrorCode(err) != usher.EInvalid {
		t.Fatalf("Sign with serial %q: got %v, want %s", bad.RequireHardwareKey, err, usher.EInvalid)
	}
}

func TestRequireHardwareKeyRefusedWithoutIt(t *testing.T) {
	here := newIdentity(t, "here")
	f := boundFixture(t, here, nil)
	_, err := f.ledger.AddLicense(context.Background(), f.signForKey(serial, usher.Grant{Feature: "cad", Seats: 1}))
	wantCode(t, err, usher.ELicenseBoundElsewhere)
	if !strings.Contains(err.Error(), "no hardware key") || !strings.Contains(err.Error(), "hardware_key_module") {
		t.Fatalf("got %q, want it to say this server has no hardware key and what to set", err)
	}
	here.HardwareKey = "0000000000000000"
	_, err = f.ledger.AddLicense(context.Background(), f.signForKey(serial, usher.Grant{Feature: "cad", Seats: 1}))
	wantCode(t, err, usher.ELicenseBoundElsewhere)
	if !strings.Contains(err.Error(), serial) || !strings.Contains(err.Error(), "0000000000000000") {
		t.Fatalf("got %q, want both serials named", err)
	}
}

func TestHardwareKeyGate(t *testing.T) {
	hw := &usher.BindingGate{}
	f, _ := hardwareKeyFixture(t, hw)
	ctx := context.Background()
	for _, text := range [][]byte{
		f.signForKey(serial, usher.Grant{Feature: "cad", Seats: 2}, usher.Grant{Feature: "sim", Seats: 1}),
		f.sign(usher.Grant{Feature: "sim", Seats: 1}, usher.Grant{Feature: "viewer", Seats: 1}),
	} {
		if _, err := f.ledger.AddLicense(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	held := f.mustCheckout("cad", "c1")
	if got := f.feature("cad").HardwareKey; got != usher.HardwareKeyPresent {
		t.Fatalf("got hardware_key %q, want %q", got, usher.HardwareKeyPresent)
	}
	hw.Block("the hardware key is unplugged")
	_, err := f.checkout("cad", "c2")
	wantCode(t, err, usher.EHardwareKeyNotAccessible)
	_, err = f.ledger.Heartbeat(ctx, held.ID, usher.Owner{})
	wantCode(t, err, usher.EHardwareKeyNotAccessible)
	if fs := f.feature("cad"); fs.State != usher.FeatureHardwareKeyAbsent || fs.HardwareKey != usher.HardwareKeyAbsent || fs.InUse != 1 {
		t.Fatalf("got %+v, want state %s, hardware_key absent and the held lease kept", fs, usher.FeatureHardwareKeyAbsent)
	}
	if got := f.feature("viewer").HardwareKey; got != "" {
		t.Fatalf("got hardware_key %q for a feature no such license grants, want none", got)
	}
	f.mustCheckout("sim", "c1") // the seat of the license without the key
	_, err = f.checkout("sim", "c2")
	wantCode(t, err, usher.ENoSeats)
	hw.Open()
	if _, err := f.ledger.Heartbeat(ctx, held.ID, usher.Owner{}); err != nil {
		t.Fatalf("heartbeat after the key came back: %v", err)
	}
	f.mustCheckout("cad", "c2")
	f.mustCheckout("sim", "c2")
}
