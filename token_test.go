package usher_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func mustKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sampleToken() usher.Token {
	return usher.Token{
		Purpose: usher.TokenLease, LeaseID: "ls_0123", Feature: "cad", ClientID: "c1 ✓", Nonce: "n-42",
		LicenseID: "lic_9", ServerTime: t0.Add(1500 * time.Millisecond), ExpiresAt: t0.Add(3 * time.Minute),
	}
}

// TestTokenRoundTrip checks that a signed token reads back whole, with the
// key that signed it only.
func TestTokenRoundTrip(t *testing.T) {
	pub, priv := mustKey(t)
	want := sampleToken()
	text := usher.SignToken(want, priv)
	got, err := usher.VerifyToken(text, pub)
	if err != nil {
		t.Fatal(err)
	}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}
	other, _ := mustKey(t)
	if _, err := usher.VerifyToken(text, other); usher.ErrorCode(err) != usher.EUntrustedServer {
		t.Errorf("verify with another key: got %v, want %s", err, usher.EUntrustedServer)
	}
	if len(text) > 200 {
		t.Errorf("token is %d bytes, want a compact one under 200", len(text))
	}
}

// TestTokenTampered checks that changing any byte of a token, or
// re-encoding it differently, fails verification.
func TestTokenTampered(t *testing.T) {
	pub, priv := mustKey(t)
	text := usher.SignToken(sampleToken(), priv)
	body, sig, _ := strings.Cut(text, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		bad := base64.RawURLEncoding.EncodeToString(b) + "." + sig
		if _, err := usher.VerifyToken(bad, pub); usher.ErrorCode(err) != usher.EUntrustedServer {
			t.Fatalf("byte %d flipped: got %v, want %s", i, err, usher.EUntrustedServer)
		}
	}
	for _, bad := range []string{"", "abc", text + "x", body, "." + sig, body + ".AAAA"} {
		if _, err := usher.VerifyToken(bad, pub); usher.ErrorCode(err) != usher.EUntrustedServer {
			t.Errorf("VerifyToken(%q): got %v, want %s", bad, err, usher.EUntrustedServer)
		}
	}
}

// TestTokenNotCanonical checks that a token signed over a non-canonical
// encoding (a length written in two bytes) is refused even though the
// signature matches.
func TestTokenNotCanonical(t *testing.T) {
	pub, priv := mustKey(t)
	tok := usher.Token{Purpose: usher.TokenLease}
	text := usher.SignToken(tok, priv)
	body, _, _ := strings.Cut(text, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	// raw: version, len("lease")=5, "lease", then empty fields.
	long := append([]byte{raw[0], 0x85, 0x00}, raw[2:]...)
	sig := ed25519.Sign(priv, append([]byte("usher-token\x00"), long...))
	bad := base64.RawURLEncoding.EncodeToString(long) + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := usher.VerifyToken(bad, pub); usher.ErrorCode(err) != usher.EUntrustedServer {
		t.Errorf("non-canonical token: got %v, want %s", err, usher.EUntrustedServer)
	}
}

// TestSessionCert checks that a session certificate names the identity
// that signed it and the session key, and that a token the session signs
// verifies with that key.
func TestSessionCert(t *testing.T) {
	idPub, idKey := mustKey(t)
	s, err := usher.NewSession(idKey, t0, 24*time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := usher.VerifySessionCert(s.CertText())
	if err != nil {
		t.Fatal(err)
	}
	if !c.ServerKey.Equal(idPub) {
		t.Errorf("server key: got %s, want %s", usher.FormatServerKey(c.ServerKey), usher.FormatServerKey(idPub))
	}
	if !c.ValidAt(t0.Add(-30*time.Minute)) || !c.ValidAt(t0.Add(23*time.Hour)) || c.ValidAt(t0.Add(25*time.Hour)) {
		t.Errorf("validity: got %s to %s, want %s to %s", c.NotBefore, c.NotAfter, t0.Add(-time.Hour), t0.Add(24*time.Hour))
	}
	tok, err := usher.VerifyToken(s.SignToken(sampleToken()), c.SessionKey)
	if err != nil || tok.LeaseID != "ls_0123" {
		t.Errorf("token of the session: got %+v, %v", tok, err)
	}
	if _, err := usher.VerifyToken(s.SignToken(sampleToken()), idPub); err == nil {
		t.Error("a session token verified with the identity key")
	}
}

// TestSessionCertForged checks that a certificate naming one server key
// but signed by another is refused.
func TestSessionCertForged(t *testing.T) {
	realPub, _ := mustKey(t)
	_, fakeKey := mustKey(t)
	s, err := usher.NewSession(fakeKey, t0, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	body, sig, _ := strings.Cut(s.CertText(), ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	copy(raw[1:], realPub) // claim to be the real server
	forged := base64.RawURLEncoding.EncodeToString(raw) + "." + sig
	if _, err := usher.VerifySessionCert(forged); usher.ErrorCode(err) != usher.EUntrustedServer {
		t.Errorf("forged certificate: got %v, want %s", err, usher.EUntrustedServer)
	}
}

// TestCheckSessionCert checks that only a license bound to the server
// that certified a session vouches for it.
func TestCheckSessionCert(t *testing.T) {
	idPub, idKey := mustKey(t)
	otherPub, _ := mustKey(t)
	s, err := usher.NewSession(idKey, t0, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cert()
	for _, tc := range []struct {
		name string
		bind ed25519.PublicKey
		ok   bool
	}{{"bound here", idPub, true}, {"unbound", nil, false}, {"bound elsewhere", otherPub, false}} {
		lic := &usher.License{ID: "lic_1", BindServer: tc.bind}
		err := lic.CheckSessionCert(&c)
		if tc.ok != (err == nil) || (err != nil && usher.ErrorCode(err) != usher.EUntrustedServer) {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestLeaseNamesGrantingLicense checks which license a lease names where
// licenses stack: the active grant that expires last, then one without
// expiry; a heartbeat names the license in force at its time.
func TestLeaseNamesGrantingLicense(t *testing.T) {
	f := newFixture(t)
	soon := f.add(usher.Grant{Feature: "cad", Seats: 1, ExpiresAt: t0.Add(time.Hour)})
	later := f.add(usher.Grant{Feature: "cad", Seats: 1, ExpiresAt: t0.Add(48 * time.Hour)})
	f.add(usher.Grant{Feature: "cad", Seats: 1, StartsAt: t0.Add(time.Hour)}) // not started yet
	ls := f.mustCheckout("cad", "c1")
	if ls.License != later.ID {
		t.Errorf("checkout: got license %q, want %q (expires last; %q expires first)", ls.License, later.ID, soon.ID)
	}
	never := f.add(usher.Grant{Feature: "cad", Seats: 1})
	hb, err := f.ledger.Heartbeat(context.Background(), ls.ID, ls.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if hb.License != never.ID {
		t.Errorf("heartbeat: got license %q, want %q (never expires)", hb.License, never.ID)
	}
}
