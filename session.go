package usher

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// certVersion is the first byte of every encoded session certificate.
const certVersion = 1

// certContext prefixes what an identity key signs for a session
// certificate, so that the signature cannot pass for anything else.
const certContext = "usher-session-cert\x00"

// SessionCert says that SessionKey speaks for the server whose identity
// key is ServerKey from NotBefore to NotAfter. The identity key signs it
// once, when the server starts (or renews its session): the identity key
// may live in a hardware token, slow and sometimes away, while the
// session key, in memory, signs every lease token.
type SessionCert struct {
	ServerKey  ed25519.PublicKey
	SessionKey ed25519.PublicKey
	NotBefore  time.Time // second resolution
	NotAfter   time.Time // second resolution
}

func (c *SessionCert) encode() []byte {
	b := make([]byte, 0, 1+2*ed25519.PublicKeySize+20)
	b = append(b, certVersion)
	b = append(b, c.ServerKey...)
	b = append(b, c.SessionKey...)
	b = binary.AppendVarint(b, c.NotBefore.Unix())
	return binary.AppendVarint(b, c.NotAfter.Unix())
}

func decodeCert(b []byte) (*SessionCert, error) {
	d := decoder{b: b}
	if v := d.byte(); v != certVersion {
		return nil, untrusted("the session certificate has version %d, which this version of Usher does not know: upgrade the application", v)
	}
	c := &SessionCert{ServerKey: d.bytes(ed25519.PublicKeySize), SessionKey: d.bytes(ed25519.PublicKeySize)}
	c.NotBefore = time.Unix(d.varint(), 0).UTC()
	c.NotAfter = time.Unix(d.varint(), 0).UTC()
	if d.bad || len(d.b) != 0 || !bytes.Equal(c.encode(), b) {
		return nil, untrusted("the session certificate is malformed")
	}
	return c, nil
}

// ValidAt reports whether the certificate is in force at t.
func (c *SessionCert) ValidAt(t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// VerifySessionCert returns the certificate in text if the identity key it
// names signed it. Whether that key is one to trust is the caller's to
// decide (License.CheckSessionCert). It returns EUntrustedServer errors.
func VerifySessionCert(text string) (*SessionCert, error) {
	body, sig, err := splitTokenText(text, "session certificate")
	if err != nil {
		return nil, err
	}
	c, err := decodeCert(body)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(c.ServerKey, append([]byte(certContext), body...), sig) {
		return nil, untrusted("the session certificate is not signed by the server key it names")
	}
	return c, nil
}

// CheckSessionCert returns nil when the server that certified c may serve
// l: l is bound to the identity key that signed c. An unbound license
// proves nothing about the server that shows it, since anyone may copy
// its text. It returns EUntrustedServer errors.
func (l *License) CheckSessionCert(c *SessionCert) error {
	if l.BindServer == nil {
		return untrusted("license %s is not bound to a server, so any program could show it: ask the vendor for a license bound to your server (usher vendor issue --bind-server)", l.ID)
	}
	if !l.BindServer.Equal(c.ServerKey) {
		return untrusted("license %s is bound to server %s, and the answer comes from server %s", l.ID, FormatServerKey(l.BindServer), FormatServerKey(c.ServerKey))
	}
	return nil
}

// Session is a server's signing key for one run: made in memory at start,
// certified by the identity key, and used for every lease token.
type Session struct {
	key      ed25519.PrivateKey
	cert     SessionCert
	certText string
}

// NewSession makes a session key and has identity certify it for validity
// from now (backdated by skew, so that a client whose clock is a little
// behind accepts it). identity must hold an Ed25519 key: its Public() an
// ed25519.PublicKey, signing with crypto.Hash(0).
func NewSession(identity crypto.Signer, now time.Time, validity, skew time.Duration) (*Session, error) {
	serverKey, ok := identity.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the server identity key is a %T, not an Ed25519 key: make a new identity", identity.Public())
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Session{key: key, cert: SessionCert{
		ServerKey: serverKey, SessionKey: pub,
		NotBefore: now.Add(-skew).UTC().Truncate(time.Second), NotAfter: now.Add(validity).UTC().Truncate(time.Second),
	}}
	body := s.cert.encode()
	sig, err := identity.Sign(rand.Reader, append([]byte(certContext), body...), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("certify the session key with the server identity: %w", err)
	}
	if !ed25519.Verify(serverKey, append([]byte(certContext), body...), sig) {
		return nil, fmt.Errorf("the server identity key made a signature its public key does not verify: check the hardware key")
	}
	s.certText = joinTokenText(body, sig)
	return s, nil
}

// Cert returns the session's certificate.
func (s *Session) Cert() SessionCert { return s.cert }

// CertText returns the signed certificate, as VerifySessionCert reads it.
func (s *Session) CertText() string { return s.certText }

// SignToken signs t with the session key.
func (s *Session) SignToken(t Token) string { return SignToken(t, s.key) }
