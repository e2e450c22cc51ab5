package usher_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func signTest(t testing.TB, priv ed25519.PrivateKey, grants ...usher.Grant) []byte {
	t.Helper()
	lic := &usher.License{ID: "lic_0123456789abcdef", Licensee: "ACME Corp", IssuedAt: t0, Grants: grants}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestLicenseRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	text := signTest(t, priv,
		usher.Grant{Feature: "cad", Seats: 5},
		usher.Grant{Feature: "viewer", Unlimited: true},
		usher.Grant{Feature: "sim", Seats: 2, StartsAt: t0, ExpiresAt: time.Date(2027, 6, 30, 23, 59, 59, 0, time.UTC)},
	)
	lic, err := usher.NewKeyring(pub).Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if lic.ID != "lic_0123456789abcdef" || lic.Licensee != "ACME Corp" || !lic.IssuedAt.Equal(t0) || len(lic.Grants) != 3 {
		t.Fatalf("got %+v", lic)
	}
	if g := lic.Grants[1]; !g.Unlimited || g.Feature != "viewer" {
		t.Fatalf("got grant %+v, want viewer unlimited", g)
	}
	if g := lic.Grants[2]; g.Seats != 2 || !g.StartsAt.Equal(t0) || g.ExpiresAt.Format(time.DateOnly) != "2027-06-30" {
		t.Fatalf("got grant %+v", g)
	}
	// CRLF line endings, as after a trip through a Windows editor, still verify.
	if _, err := usher.NewKeyring(pub).Verify(bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))); err != nil {
		t.Fatalf("Verify with CRLF: %v", err)
	}
}

// TestEveryTamperedByteIsRefused changes each byte of the signed block in
// turn: every change must be refused with a message that says the
// signature does not match.
func TestEveryTamperedByteIsRefused(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	text := signTest(t, priv, usher.Grant{Feature: "cad", Seats: 5})
	keys := usher.NewKeyring(pub)
	start := bytes.Index(text, []byte("format:"))
	end := bytes.Index(text, []byte("\nsignature:"))
	for i := start; i < end; i++ {
		if text[i] == '\n' {
			continue
		}
		bad := bytes.Clone(text)
		bad[i] ^= 0x01
		_, err := keys.Verify(bad)
		if usher.ErrorCode(err) != usher.ELicenseInvalid || !strings.Contains(err.Error(), "signature does not match") {
			t.Fatalf("byte %d (%q) changed: got %v, want a signature mismatch", i, text[i], err)
		}
	}
}

func TestLicenseRefusals(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	good := signTest(t, priv, usher.Grant{Feature: "cad", Seats: 5})
	keys := usher.NewKeyring(pub)
	for name, data := range map[string][]byte{
		"other vendor":   signTest(t, otherPriv, usher.Grant{Feature: "cad", Seats: 5}),
		"empty":          nil,
		"no end":         good[:len(good)-30],
		"no signature":   []byte("-----BEGIN USHER LICENSE-----\nformat: 1\n-----END USHER LICENSE-----\n"),
		"bad base64":     bytes.Replace(good, []byte("sig="), []byte("sig=!!"), 1),
		"seats raised":   bytes.Replace(good, []byte("seats=5"), []byte("seats=9"), 1),
		"line added":     bytes.Replace(good, []byte("feature: cad"), []byte("feature: sim seats=9\nfeature: cad"), 1),
		"not a license":  []byte("hello"),
		"too large":      bytes.Repeat([]byte("x"), 2<<20),
		"signature gone": bytes.Replace(good, []byte("signature:"), []byte("signed:"), 1),
	} {
		if _, err := keys.Verify(data); usher.ErrorCode(err) != usher.ELicenseInvalid {
			t.Errorf("%s: got %v, want %s", name, err, usher.ELicenseInvalid)
		}
	}
}

func TestSignRefusesInvalidLicenses(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	for name, lic := range map[string]usher.License{
		"no licensee":   {ID: "lic_1", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}},
		"newline":       {ID: "lic_1", Licensee: "A\nB", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}},
		"no features":   {ID: "lic_1", Licensee: "A", IssuedAt: t0},
		"bad feature":   {ID: "lic_1", Licensee: "A", IssuedAt: t0, Grants: []usher.Grant{{Feature: "C A D", Seats: 1}}},
		"negative":      {ID: "lic_1", Licensee: "A", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: -1}}},
		"window":        {ID: "lic_1", Licensee: "A", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1, StartsAt: t0, ExpiresAt: t0}}},
		"bad id":        {ID: "x", Licensee: "A", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1}}},
		"no issue date": {ID: "lic_1", Licensee: "A", Grants: []usher.Grant{{Feature: "cad", Seats: 1}}},
	} {
		if _, err := usher.Sign(&lic, priv); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%s: got %v, want %s", name, err, usher.EInvalid)
		}
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	privPEM, err := usher.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := usher.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	gotPriv, err := usher.ParsePrivateKey(privPEM)
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	gotPub, err := usher.ParsePublicKey(pubPEM)
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if _, err := usher.ParsePublicKey(privPEM); err == nil {
		t.Fatal("a private key parsed as a public key")
	}
}

// FuzzVerify feeds arbitrary files to the license parser. It must never
// panic, and whatever it accepts must be exactly what signing produces.
func FuzzVerify(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	keys := usher.NewKeyring(seed.Public().(ed25519.PublicKey))
	f.Add(signTest(f, seed, usher.Grant{Feature: "cad", Seats: 5}))
	f.Add(signTest(f, seed, usher.Grant{Feature: "viewer", Unlimited: true}, usher.Grant{Feature: "sim", Seats: 2, StartsAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	f.Add([]byte("-----BEGIN USHER LICENSE-----\nformat: 1\nsignature: ed25519 key=00 sig=AA==\n-----END USHER LICENSE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lic, err := keys.Verify(data)
		if err != nil {
			if usher.ErrorCode(err) != usher.ELicenseInvalid {
				t.Fatalf("error with code %q, want %s: %v", usher.ErrorCode(err), usher.ELicenseInvalid, err)
			}
			return
		}
		again, err := usher.Sign(lic, seed)
		if err != nil {
			t.Fatalf("accepted license does not sign again: %v", err)
		}
		if _, err := keys.Verify(again); err != nil {
			t.Fatalf("re-signed license refused: %v", err)
		}
	})
}

// TestLicenseMarkers checks that BEGIN and END match only as whole lines
// and that an indented or quoted license is refused with a message that
// says so, while trailing white space after a marker is allowed.
func TestLicenseMarkers(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	good := signTest(t, priv, usher.Grant{Feature: "cad", Seats: 5})
	keys := usher.NewKeyring(pub)
	prefix := func(p string) []byte {
		lines := strings.SplitAfter(string(good), "\n")
		for i := range lines {
			if lines[i] != "" {
				lines[i] = p + lines[i]
			}
		}
		return []byte(strings.Join(lines, ""))
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"indented":     {prefix("    "), "indented or quoted"},
		"quoted":       {prefix("> "), "indented or quoted"},
		"end trailing": {bytes.Replace(good, []byte("END USHER LICENSE-----"), []byte("END USHER LICENSE-----garbage"), 1), "text after the marker"},
	} {
		_, err := keys.Verify(tc.data)
		if usher.ErrorCode(err) != usher.ELicenseInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s saying %q", name, err, usher.ELicenseInvalid, tc.want)
		}
	}
	spaced := bytes.Replace(good, []byte("-----\n"), []byte("-----  \n"), -1)
	if _, err := keys.Verify(spaced); err != nil {
		t.Errorf("markers with trailing spaces: %v", err)
	}
	framed := append(append([]byte("Dear ACME,\nyour license:\n\n"), good...), "\nregards\n"...)
	if _, err := keys.Verify(framed); err != nil {
		t.Errorf("license inside a message: %v", err)
	}
}
