package usher_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func TestBorrowTokenVerifiesOffline(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	ls := usher.Lease{ID: "ls_1", Feature: "cad", Client: usher.Client{ID: "laptop"}, IssuedAt: t0}
	ls.BorrowedUntil = t0.Add(72 * time.Hour)
	tok, err := usher.SignBorrowToken(priv, usher.BorrowClaimsOf(ls, pub))
	if err != nil {
		t.Fatal(err)
	}
	c, err := usher.VerifyBorrowToken(tok, pub, "laptop", t0.Add(time.Hour), t0)
	if err != nil || c.LeaseID != "ls_1" || !c.BorrowedUntil.Equal(ls.BorrowedUntil) {
		t.Fatalf("got %+v, %v, want the claims of ls_1", c, err)
	}
	forged, _ := usher.SignBorrowToken(otherPriv, usher.BorrowClaimsOf(ls, pub))
	selfSigned, _ := usher.SignBorrowToken(otherPriv, usher.BorrowClaimsOf(ls, otherPub))
	parts := strings.Split(tok, ".")
	for name, tc := range map[string]struct {
		tok             string
		client          string
		now, notBefore  time.Time
		code, wantInMsg string
	}{
		"forged":        {forged, "laptop", t0, t0, usher.EInvalid, "signature"},
		"other server":  {selfSigned, "laptop", t0, t0, usher.EInvalid, "another server"},
		"edited":        {parts[0] + "." + parts[1] + "x." + parts[2], "laptop", t0, t0, usher.EInvalid, ""},
		"other client":  {tok, "desktop", t0, t0, usher.EInvalid, "issued to client"},
		"expired":       {tok, "laptop", t0.Add(72*time.Hour + time.Second), t0, usher.EFeatureExpired, "ended"},
		"clock back":    {tok, "laptop", t0.Add(-time.Hour), t0, usher.EInvalid, "clock"},
		"clock rewound": {tok, "laptop", t0.Add(time.Hour), t0.Add(48 * time.Hour), usher.EInvalid, "clock"},
		"not a token":   {"hello", "laptop", t0, t0, usher.EInvalid, "not an Usher borrow token"},
	} {
		_, err := usher.VerifyBorrowToken(tc.tok, pub, tc.client, tc.now, tc.notBefore)
		if usher.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.wantInMsg) {
			t.Errorf("%s: got %v, want %s saying %q", name, err, tc.code, tc.wantInMsg)
		}
	}
}
