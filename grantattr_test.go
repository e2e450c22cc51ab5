package usher_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// signBody signs a hand-written body, as a tool other than usher vendor
// issue (or a newer Usher) would.
func signBody(priv ed25519.PrivateKey, body string) []byte {
	pub := priv.Public().(ed25519.PublicKey)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(body)))
	return []byte("-----BEGIN USHER LICENSE-----\n" + body + "signature: ed25519 key=" + usher.KeyID(pub) + " sig=" + sig + "\n-----END USHER LICENSE-----\n")
}

func TestGrantAttributesRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	g := usher.Grant{Feature: "cad", Seats: 5}
	for _, kv := range [][2]string{{"borrow", "168h"}, {"scope", "host"}, {"linger", "90m"}, {"version", "2026.2"}} {
		if err := g.SetAttr(kv[0], kv[1]); err != nil {
			t.Fatalf("SetAttr %s=%s: %v", kv[0], kv[1], err)
		}
	}
	text := signTest(t, priv, g, usher.Grant{Feature: "viewer", Unlimited: true})
	for _, want := range []string{"format: 3\n", "feature: cad seats=5 scope=host version=2026.2 linger=90m borrow=7d\n", "feature: viewer seats=unlimited\n"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("license text lacks %q:\n%s", want, text)
		}
	}
	lic, err := usher.NewKeyring(pub).Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got := lic.Grants[0]
	if got.Scope != usher.ScopeHost || got.Version != "2026.2" || got.Linger != 90*time.Minute || got.Borrow != 168*time.Hour {
		t.Fatalf("got grant %+v, want scope host, version 2026.2, linger 90m, borrow 168h", got)
	}
}

func TestPlainLicensesKeepTheirFormat(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	g := usher.Grant{Feature: "cad", Seats: 5}
	if err := g.SetAttr("scope", "session"); err != nil { // the default: not written
		t.Fatal(err)
	}
	text := string(signTest(t, priv, g))
	if !strings.Contains(text, "format: 1\n") || !strings.Contains(text, "feature: cad seats=5\n") {
		t.Fatalf("got\n%s\nwant format 1 and a plain grant line", text)
	}
}

func TestGrantAttributeRefusals(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := usher.NewKeyring(pub)
	head := "format: 3\nid: lic_0123456789abcdef\nlicensee: ACME Corp\nissued: 2026-11-23T12:00:00Z\n"
	for name, tc := range map[string]struct{ body, want string }{
		"newer attribute": {head + "feature: cad seats=5 teleport=yes\n", "made for a newer Usher; upgrade Usher"},
		"newer format":    {strings.Replace(head, "format: 3", "format: 4", 1) + "feature: cad seats=5\n", "newer format: upgrade Usher"},
		"out of order":    {head + "feature: cad seats=5 borrow=7d scope=host\n", "canonical"},
		"not canonical":   {head + "feature: cad seats=5 borrow=168h\n", "canonical"},
		"session written": {head + "feature: cad seats=5 scope=session\n", "canonical"},
		"format 1":        {strings.Replace(head, "format: 3", "format: 1", 1) + "feature: cad seats=5 scope=host\n", "canonical"},
		"bad scope":       {head + "feature: cad seats=5 scope=planet\n", "not a scope"},
		"bad version":     {head + "feature: cad seats=5 version=2026.02\n", "leading zeros"},
		"bad duration":    {head + "feature: cad seats=5 linger=-5m\n", "positive"},
	} {
		_, err := keys.Verify(signBody(priv, tc.body))
		if usher.ErrorCode(err) != usher.ELicenseInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s saying %q", name, err, usher.ELicenseInvalid, tc.want)
		}
	}
}

func TestSetAttrRefusals(t *testing.T) {
	for _, kv := range [][2]string{{"teleport", "1"}, {"scope", "world"}, {"version", "v2"}, {"version", "1..2"}, {"linger", "0s"}, {"borrow", "1.5s"}, {"borrow", "7days"}} {
		g := usher.Grant{Feature: "cad", Seats: 1}
		if err := g.SetAttr(kv[0], kv[1]); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("SetAttr %s=%s: got %v, want %s", kv[0], kv[1], err, usher.EInvalid)
		}
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	lic := usher.License{ID: "lic_1", Licensee: "A", IssuedAt: t0, Grants: []usher.Grant{{Feature: "cad", Seats: 1, Linger: -time.Minute}}}
	if _, err := usher.Sign(&lic, priv); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("Sign with a negative linger: got %v, want %s", err, usher.EInvalid)
	}
}

func TestVersionCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"2026.2", "2026.2.0", 0}, {"2026.10", "2026.9", 1}, {"5", "5.0.1", -1}, {"10.0", "9.99", 1}} {
		a, err := usher.ParseVersion(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := usher.ParseVersion(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s vs %s: got %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
