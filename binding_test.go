package usher_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
)

// hostTraits returns the hashed traits of a made-up host.
func hostTraits(host string) usher.HostTraits {
	h := usher.HostTraits{}
	for _, name := range []string{usher.TraitMachineID, usher.TraitProductUUID, usher.TraitMAC, usher.TraitDiskSerial, usher.TraitHostname} {
		h[name] = usher.HashTrait(name, host+"/"+name)
	}
	return h
}

func newIdentity(t testing.TB, host string) *usher.ServerIdentity {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &usher.ServerIdentity{Key: pub, Host: hostTraits(host)}
}

// boundFixture is a ledger fixture whose server has an identity.
func boundFixture(t *testing.T, id *usher.ServerIdentity, gate *usher.BindingGate) *fixture {
	t.Helper()
	f := newFixture(t)
	f.reopenAs(id, gate)
	return f
}

func (f *fixture) reopenAs(id *usher.ServerIdentity, gate *usher.BindingGate) {
	f.t.Helper()
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, Identity: id, Gate: gate,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.ledger = l
}

func (f *fixture) signBound(bindServer ed25519.PublicKey, host *usher.HostBinding, grants ...usher.Grant) []byte {
	f.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: grants, BindServer: bindServer, BindHost: host}
	text, err := usher.Sign(lic, f.priv)
	if err != nil {
		f.t.Fatal(err)
	}
	return text
}

func TestBoundLicenseRoundTrip(t *testing.T) {
	id := newIdentity(t, "a")
	f := newFixture(t)
	text := f.signBound(id.Key, &usher.HostBinding{Traits: id.Host}, usher.Grant{Feature: "cad", Seats: 1})
	if !bytes.Contains(text, []byte("format: 2\n")) || !bytes.Contains(text, []byte("bind-server: "+usher.FormatServerKey(id.Key)+"\n")) {
		t.Fatalf("got license\n%s\nwant format 2 and a bind-server line", text)
	}
	lic, err := f.keys.Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !lic.BindServer.Equal(id.Key) || lic.BindHost.Min != 4 || lic.BindHost.Traits.String() != id.Host.String() {
		t.Fatalf("got binding %x %+v, want the server key, min 4 and the traits", lic.BindServer, lic.BindHost)
	}
	if err := lic.CheckBinding(id); err != nil {
		t.Fatalf("CheckBinding on its own server: %v", err)
	}
}

func TestUnboundLicenseKeepsFormat1(t *testing.T) {
	f := newFixture(t)
	text := f.sign(usher.Grant{Feature: "cad", Seats: 1})
	if !bytes.Contains(text, []byte("format: 1\n")) || bytes.Contains(text, []byte("bind-")) {
		t.Fatalf("got license\n%s\nwant format 1 without binding lines", text)
	}
}

func TestHostMatchIsFuzzy(t *testing.T) {
	id := newIdentity(t, "a")
	for _, tc := range []struct {
		name    string
		changed []string
		min     int
		wantErr bool
	}{
		{"same host", nil, 0, false},
		{"new network card", []string{usher.TraitMAC}, 0, false},
		{"two traits differ", []string{usher.TraitMAC, usher.TraitHostname}, 0, true},
		{"two differ, min 3", []string{usher.TraitMAC, usher.TraitHostname}, 3, false},
		{"one differs, min all", []string{usher.TraitMAC}, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := usher.HostTraits{}
			for k, v := range id.Host {
				host[k] = v
			}
			for _, name := range tc.changed {
				host[name] = usher.HashTrait(name, "other")
			}
			lic := &usher.License{ID: "lic_1", BindHost: &usher.HostBinding{Traits: id.Host, Min: tc.min}}
			if tc.min == 0 {
				lic.BindHost.Min = usher.DefaultHostMin(len(id.Host))
			}
			err := lic.CheckBinding(&usher.ServerIdentity{Key: id.Key, Host: host})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("got %v, want a match", err)
				}
				return
			}
			wantCode(t, err, usher.ELicenseBoundElsewhere)
			for _, name := range tc.changed {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("got message %q, want it to name trait %s", err, name)
				}
			}
		})
	}
}

func TestUnknownBindingLineRefused(t *testing.T) {
	f := newFixture(t)
	text := f.sign(usher.Grant{Feature: "cad", Seats: 1})
	// A newer vendor tool's binding line, signed like any other.
	body := strings.Replace(string(text), "format: 1\n", "format: 2\n", 1)
	body = strings.Replace(body, "issued: ", "bind-dongle: 1234\nissued: ", 1)
	lic, err := resign(t, f, body)
	if err == nil {
		t.Fatalf("got license %+v, want it refused", lic)
	}
	wantCode(t, err, usher.ELicenseInvalid)
	if !strings.Contains(err.Error(), `"bind-dongle"`) || !strings.Contains(err.Error(), "upgrade Usher") {
		t.Fatalf("got %q, want the unknown binding named and an upgrade advised", err)
	}
}

// resign signs the block of text again with the fixture's key and verifies it.
func resign(t *testing.T, f *fixture, text string) (*usher.License, error) {
	t.Helper()
	start := strings.Index(text, "format:")
	end := strings.Index(text, "signature:")
	body := text[start:end]
	sig := ed25519.Sign(f.priv, []byte(body))
	pub := f.priv.Public().(ed25519.PublicKey)
	out := text[:start] + body + "signature: ed25519 key=" + usher.KeyID(pub) + " sig=" + base64.StdEncoding.EncodeToString(sig) + "\n-----END USHER LICENSE-----\n"
	return f.keys.Verify([]byte(out))
}

func TestBoundLicenseRefusedAtAdd(t *testing.T) {
	here, there := newIdentity(t, "here"), newIdentity(t, "there")
	f := boundFixture(t, here, nil)
	for name, text := range map[string][]byte{
		"other server": f.signBound(there.Key, nil, usher.Grant{Feature: "cad", Seats: 1}),
		"other host":   f.signBound(nil, &usher.HostBinding{Traits: there.Host}, usher.Grant{Feature: "cad", Seats: 1}),
	} {
		_, err := f.ledger.AddLicense(context.Background(), text)
		wantCode(t, err, usher.ELicenseBoundElsewhere)
		if len(f.store.licenses) != 0 {
			t.Fatalf("%s: got %d stored licenses, want none", name, len(f.store.licenses))
		}
	}
	if _, err := f.ledger.AddLicense(context.Background(), f.signBound(here.Key, &usher.HostBinding{Traits: here.Host}, usher.Grant{Feature: "cad", Seats: 1})); err != nil {
		t.Fatalf("AddLicense bound here: %v", err)
	}
	f.mustCheckout("cad", "c1")
}

func TestBoundLicenseRefusedAtStart(t *testing.T) {
	here := newIdentity(t, "here")
	f := boundFixture(t, here, nil)
	lic, err := f.ledger.AddLicense(context.Background(), f.signBound(nil, &usher.HostBinding{Traits: here.Host}, usher.Grant{Feature: "cad", Seats: 1}))
	if err != nil {
		t.Fatal(err)
	}
	moved := &usher.ServerIdentity{Key: here.Key, Host: hostTraits("there")} // the data directory copied to another host
	f.reopenAs(moved, nil)
	_, err = f.checkout("cad", "c1")
	wantCode(t, err, usher.EFeatureNotFound)
	refused := f.ledger.RefusedLicenses()
	if len(refused) != 1 || refused[0].ID != lic.ID || refused[0].Code != usher.ELicenseBoundElsewhere || !strings.Contains(refused[0].Reason, "hostname") {
		t.Fatalf("got refused %+v, want %s refused as bound elsewhere, naming the traits", refused, lic.ID)
	}
	f.reopenAs(nil, nil) // a ledger without identity serves no bound license
	if r := f.ledger.RefusedLicenses(); len(r) != 1 || r[0].Code != usher.ELicenseBoundElsewhere {
		t.Fatalf("got refused %+v without identity, want the bound license refused", r)
	}
	f.reopenAs(here, nil)
	f.mustCheckout("cad", "c1")
}

func TestGateBlocksOnlyBoundGrants(t *testing.T) {
	here := newIdentity(t, "here")
	gate := &usher.BindingGate{}
	f := boundFixture(t, here, gate)
	for _, text := range [][]byte{
		f.signBound(here.Key, nil, usher.Grant{Feature: "cad", Seats: 1}, usher.Grant{Feature: "sim", Seats: 1}),
		f.sign(usher.Grant{Feature: "sim", Seats: 1}),
	} {
		if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
			t.Fatal(err)
		}
	}
	gate.Block("another server with this identity runs on this host")
	_, err := f.checkout("cad", "c1")
	wantCode(t, err, usher.ELicenseInUseElsewhere)
	if fs := f.feature("cad"); fs.State != usher.FeatureInUseElsewhere {
		t.Fatalf("got state %s, want %s", fs.State, usher.FeatureInUseElsewhere)
	}
	f.mustCheckout("sim", "c1") // the unbound seat
	_, err = f.checkout("sim", "c2")
	wantCode(t, err, usher.ENoSeats)
	gate.Open()
	f.mustCheckout("cad", "c1")
	f.mustCheckout("sim", "c2")
}

func TestServerKeyAndGUID(t *testing.T) {
	id := newIdentity(t, "a")
	got, err := usher.ParseServerKey(usher.FormatServerKey(id.Key))
	if err != nil || !got.Equal(id.Key) {
		t.Fatalf("got %x, %v, want the key back", got, err)
	}
	if _, err := usher.ParseServerKey("abc"); usher.ErrorCode(err) != usher.EInvalid {
		t.Fatalf("got %v, want invalid_request", err)
	}
	g := usher.ServerGUID(id.Key)
	if len(g) != 36 || g != usher.ServerGUID(id.Key) || g == usher.ServerGUID(newIdentity(t, "a").Key) {
		t.Fatalf("got guid %q, want 36 characters, stable per key", g)
	}
	fp := id.Host.String()
	back, err := usher.ParseHostFingerprint(fp)
	if err != nil || back.String() != fp {
		t.Fatalf("got %v, %v, want fingerprint %s back", back, err, fp)
	}
	if _, err := usher.ParseHostFingerprint("mac=zz"); usher.ErrorCode(err) != usher.EInvalid {
		t.Fatalf("got %v, want invalid_request", err)
	}
}
