package usher

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Unbind file framing. See docs/security.md.
const (
	unbindBegin  = "-----BEGIN USHER UNBIND-----"
	unbindEnd    = "-----END USHER UNBIND-----"
	unbindFormat = "1"
)

// DefaultUnbindValidity is how long an unbind file may be loaded unless
// the vendor says otherwise.
const DefaultUnbindValidity = 30 * 24 * time.Hour

// EUnbindInvalid refuses an unbind file that is not signed by a trusted
// vendor key, has expired, or was issued before the binding it would lift.
const EUnbindInvalid = "unbind_invalid"

// Unbind is the vendor's signed permission to lift the Licensee Secret
// binding of one license: it lifts a binding made before IssuedAt, until
// ExpiresAt.
type Unbind struct {
	LicenseID string
	IssuedAt  time.Time
	ExpiresAt time.Time
	KeyID     string // set by SignUnbind and VerifyUnbind
}

func (u *Unbind) validate() error {
	if !strings.HasPrefix(u.LicenseID, "lic_") || len(u.LicenseID) > 64 || strings.ContainsAny(u.LicenseID, " \t\r\n") {
		return Errorf(EInvalid, "license id %q is not valid: it must start with lic_ and contain no spaces", u.LicenseID)
	}
	if u.IssuedAt.IsZero() || !u.ExpiresAt.After(u.IssuedAt) {
		return Errorf(EInvalid, "an unbind file needs an issue date and a later expiry")
	}
	return nil
}

func (u *Unbind) encodeBody() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "format: %s\n", unbindFormat)
	fmt.Fprintf(&b, "unbind: %s\n", u.LicenseID)
	fmt.Fprintf(&b, "issued: %s\n", formatTime(u.IssuedAt))
	fmt.Fprintf(&b, "expires: %s\n", formatTime(u.ExpiresAt))
	return b.Bytes()
}

// SignUnbind signs an unbind file with the vendor key and returns it.
func SignUnbind(u *Unbind, key ed25519.PrivateKey) ([]byte, error) {
	u.IssuedAt, u.ExpiresAt = truncUTC(u.IssuedAt), truncUTC(u.ExpiresAt)
	if err := u.validate(); err != nil {
		return nil, err
	}
	body := u.encodeBody()
	u.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Usher unbind file: it lifts the licensee secret binding of license %s\n", u.LicenseID)
	fmt.Fprintf(&out, "# once, until %s. Load it with: usher license unbind FILE\n", formatTime(u.ExpiresAt))
	out.WriteString(unbindBegin + "\n")
	out.Write(body)
	fmt.Fprintf(&out, "signature: ed25519 key=%s sig=%s\n", u.KeyID, base64.StdEncoding.EncodeToString(ed25519.Sign(key, body)))
	out.WriteString(unbindEnd + "\n")
	return out.Bytes(), nil
}

// VerifyUnbind parses an unbind file and checks its signature against the
// trusted vendor keys. Every failure is an EUnbindInvalid error.
func (k *Keyring) VerifyUnbind(data []byte) (*Unbind, error) {
	body, keyID, sig, err := splitSigned(data, unbindBegin, unbindEnd)
	if err != nil {
		return nil, Errorf(EUnbindInvalid, "unbind file: %s", ErrorMessage(err))
	}
	pub, ok := k.keys[keyID]
	if !ok || !ed25519.Verify(pub, body, sig) {
		return nil, Errorf(EUnbindInvalid, "unbind file: the signature does not match a trusted vendor key: use the file exactly as the vendor sent it, made with the key that signed the license")
	}
	u := &Unbind{KeyID: keyID}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	for _, line := range lines {
		key, val, _ := strings.Cut(line, ": ")
		switch key {
		case "unbind":
			u.LicenseID = val
		case "issued":
			u.IssuedAt, err = time.Parse(time.RFC3339, val)
		case "expires":
			u.ExpiresAt, err = time.Parse(time.RFC3339, val)
		}
		if err != nil {
			return nil, Errorf(EUnbindInvalid, "unbind file: line %q: %v", line, err)
		}
	}
	if err := u.validate(); err != nil || !bytes.Equal(u.encodeBody(), body) {
		return nil, Errorf(EUnbindInvalid, "unbind file is not in the form usher vendor unbind writes: ask the vendor for a new one")
	}
	return u, nil
}
