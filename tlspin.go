package usher

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// CertificateFingerprint returns the SHA-256 fingerprint of a DER
// certificate as colon-separated upper-case hex pairs, the form
// "openssl x509 -fingerprint -sha256" prints.
func CertificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// ParseFingerprint reads a SHA-256 certificate fingerprint written as 64
// hex digits, with or without colons or a "sha256:" prefix, in any case.
func ParseFingerprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if len(t) > 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.ReplaceAll(t, ":", "")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, Errorf(EInvalid, "fingerprint %q is not a SHA-256 fingerprint: want 64 hex digits, as the server prints at start", s)
	}
	return b, nil
}

// PinnedTLSConfig returns a TLS client configuration that trusts exactly
// the server certificate with the given SHA-256 fingerprint, whoever
// signed it and whatever names it carries: the way to reach a server that
// uses a self-signed certificate (usher server --tls-auto). It returns an
// EInvalid error for a malformed fingerprint.
func PinnedTLSConfig(fingerprint string) (*tls.Config, error) {
	want, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is not verified against any root: the pin below is the
		// whole check, done on every handshake including resumed ones.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(sum[:], want) {
				return fmt.Errorf("tls: server certificate has fingerprint %s, not the pinned one: check the fingerprint the server printed at start",
					CertificateFingerprint(cs.PeerCertificates[0].Raw))
			}
			return nil
		},
	}, nil
}
