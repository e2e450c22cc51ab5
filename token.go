package usher

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// Token purposes. A token's purpose is signed with it, so a token made for
// one use cannot stand in for another.
const (
	// TokenLease is the purpose of the token of a checkout or heartbeat
	// answer: it vouches that the server holds this lease for this client.
	TokenLease = "lease"
)

// tokenVersion is the first byte of every encoded token; a reader refuses
// a version it does not know.
const tokenVersion = 1

// maxTokenField bounds each string field of a token, and so its size.
const maxTokenField = 1024

// tokenContext prefixes what a session key signs for a token, so that the
// signature of a token can never pass for that of anything else.
const tokenContext = "usher-token\x00"

// Token is a statement a server signs with its session key (see Session):
// what Purpose names, about one lease of Feature held by ClientID, true at
// ServerTime. Nonce is the value the client sent with its request, so an
// old token cannot answer a new request. LicenseID names the license that
// grants the feature.
type Token struct {
	Purpose    string
	LeaseID    string
	Feature    string
	ClientID   string
	Nonce      string
	LicenseID  string
	ServerTime time.Time // millisecond resolution
	ExpiresAt  time.Time // millisecond resolution
}

// encode returns the canonical encoding of t: a version byte, each string
// field as a uvarint length and its bytes, and both times as varint Unix
// milliseconds.
func (t *Token) encode() []byte {
	b := make([]byte, 0, 64+len(t.LeaseID)+len(t.Feature)+len(t.ClientID)+len(t.Nonce)+len(t.LicenseID))
	b = append(b, tokenVersion)
	for _, s := range [...]string{t.Purpose, t.LeaseID, t.Feature, t.ClientID, t.Nonce, t.LicenseID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, t.ServerTime.UnixMilli())
	return binary.AppendVarint(b, t.ExpiresAt.UnixMilli())
}

// decodeToken reads what encode wrote, and refuses any other encoding of
// the same token.
func decodeToken(b []byte) (*Token, error) {
	d := decoder{b: b}
	if v := d.byte(); v != tokenVersion {
		return nil, untrusted("the token has version %d, which this version of Usher does not know: upgrade the application", v)
	}
	t := &Token{Purpose: d.string(), LeaseID: d.string(), Feature: d.string(), ClientID: d.string(), Nonce: d.string(), LicenseID: d.string()}
	t.ServerTime = time.UnixMilli(d.varint()).UTC()
	t.ExpiresAt = time.UnixMilli(d.varint()).UTC()
	if d.bad || len(d.b) != 0 || !bytes.Equal(t.encode(), b) {
		return nil, untrusted("the token is malformed")
	}
	return t, nil
}

// SignToken returns the text of t signed by key: the base64url encoding of
// t, a dot and the base64url signature. It is compact enough for a JSON
// field or a file.
func SignToken(t Token, key ed25519.PrivateKey) string {
	body := t.encode()
	sig := ed25519.Sign(key, append([]byte(tokenContext), body...))
	return joinTokenText(body, sig)
}

// VerifyToken returns the token in text if key signed it. It does not
// judge what the token says: the caller compares its fields with what it
// expects. It returns EUntrustedServer errors.
func VerifyToken(text string, key ed25519.PublicKey) (*Token, error) {
	body, sig, err := splitTokenText(text, "token")
	if err != nil {
		return nil, err
	}
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, append([]byte(tokenContext), body...), sig) {
		return nil, untrusted("the token is not signed by the session key its server certified")
	}
	return decodeToken(body)
}

// joinTokenText writes a signed statement as text.
func joinTokenText(body, sig []byte) string {
	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(body))+1+enc.EncodedLen(len(sig)))
	out = enc.AppendEncode(out, body)
	out = append(out, '.')
	return string(enc.AppendEncode(out, sig))
}

// splitTokenText reads what joinTokenText wrote.
func splitTokenText(text, what string) (body, sig []byte, err error) {
	b64, s64, ok := strings.Cut(text, ".")
	if !ok || len(text) > 8*maxTokenField {
		return nil, nil, untrusted("the %s is not a signed %s: want two base64url parts joined by a dot", what, what)
	}
	if body, err = base64.RawURLEncoding.DecodeString(b64); err != nil {
		return nil, nil, untrusted("the %s is not base64url: %v", what, err)
	}
	if sig, err = base64.RawURLEncoding.DecodeString(s64); err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, untrusted("the signature of the %s is not an Ed25519 signature", what)
	}
	return body, sig, nil
}

func untrusted(format string, args ...any) *Error {
	return Errorf(EUntrustedServer, "the server's answer cannot be trusted: "+format, args...)
}

// decoder reads the fields of a canonical encoding; bad is set once a
// read runs past the end or finds an oversized field.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > maxTokenField || uint64(len(d.b)-k) < n {
		d.bad = true
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.bad = true
		return nil
	}
	out := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return out
}
