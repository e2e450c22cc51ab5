package usher

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// borrowTokenPrefix starts every borrow token and, with a dot, the bytes
// its signature covers: a signature made for anything else never verifies
// as a borrow token.
const borrowTokenPrefix = "ubt1"

// BorrowClockSkew is how far a client's clock may be behind the server's
// when it checks a borrow token before the clock counts as turned back.
const BorrowClockSkew = 5 * time.Minute

// BorrowClaims is what a borrow token says: which lease of which client
// may run without its server until when, signed by the server's identity
// key (Server, an Ed25519 public key).
type BorrowClaims struct {
	LeaseID       string            `json:"lease"`
	Feature       string            `json:"feature"`
	Client        string            `json:"client"`
	Count         int               `json:"count,omitempty"`
	Version       string            `json:"version,omitempty"`
	IssuedAt      time.Time         `json:"issued_at"`
	BorrowedUntil time.Time         `json:"borrowed_until"`
	Server        ed25519.PublicKey `json:"server"`
}

// BorrowClaimsOf returns the claims of a borrowed lease, signed by key.
func BorrowClaimsOf(ls Lease, key ed25519.PublicKey) BorrowClaims {
	return BorrowClaims{LeaseID: ls.ID, Feature: ls.Feature, Client: ls.Client.ID, Count: ls.Count, Version: ls.Version,
		IssuedAt: ls.IssuedAt.UTC(), BorrowedUntil: ls.BorrowedUntil.UTC(), Server: key}
}

// SignBorrowToken returns the borrow token of c, signed by signer: the
// server's identity, whose Public() must be c.Server.
func SignBorrowToken(signer crypto.Signer, c BorrowClaims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := borrowTokenPrefix + "." + base64.RawURLEncoding.EncodeToString(body)
	sig, err := signer.Sign(rand.Reader, []byte(payload), crypto.Hash(0))
	if err != nil {
		return "", Errorf(EUnavailable, "sign the borrow token: %v: try again", err)
	}
	return payload + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// VerifyBorrowToken checks a borrow token offline: its signature by the
// key it names (which must be trusted, if trusted is set), that it was
// issued to clientID, that it has not expired at now, and that the clock
// was not turned back: now may not be before the token was issued, nor
// before notBefore (the latest time the client saw), by more than
// BorrowClockSkew.
//
// Errors: EInvalid for a token that is malformed, forged, for another
// client or from an untrusted server; EFeatureExpired once it expired.
func VerifyBorrowToken(token string, trusted ed25519.PublicKey, clientID string, now, notBefore time.Time) (BorrowClaims, error) {
	var c BorrowClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != borrowTokenPrefix {
		return c, Errorf(EInvalid, "not an Usher borrow token: check out the feature again while the server is reachable")
	}
	body, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || json.Unmarshal(body, &c) != nil || len(c.Server) != ed25519.PublicKeySize {
		return c, Errorf(EInvalid, "the borrow token is malformed: check out the feature again while the server is reachable")
	}
	if trusted != nil && !trusted.Equal(c.Server) {
		return c, Errorf(EInvalid, "the borrow token was signed by another server than the one trusted: check out the feature again from your server")
	}
	if !ed25519.Verify(c.Server, []byte(parts[0]+"."+parts[1]), sig) {
		return c, Errorf(EInvalid, "the borrow token's signature does not match: the file was changed; check out the feature again while the server is reachable")
	}
	if c.Client != clientID {
		return c, Errorf(EInvalid, "the borrow token was issued to client %q, not to this one (%q): borrow on this machine", c.Client, clientID)
	}
	if now.Add(BorrowClockSkew).Before(c.IssuedAt) || now.Add(BorrowClockSkew).Before(notBefore) {
		return c, Errorf(EInvalid, "this machine's clock was turned back (it reads %s, but the borrow was already in use later): set the clock right", formatTime(now))
	}
	if now.After(c.BorrowedUntil) {
		return c, Errorf(EFeatureExpired, "the borrow of feature %s ended at %s: check it out again while the server is reachable", c.Feature, formatTime(c.BorrowedUntil))
	}
	return c, nil
}
