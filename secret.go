package usher

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Licensee Secret modes of a license (License.LicenseeSecret). See
// docs/security.md.
const (
	// SecretDisabled ignores the secret a checkout presents; a binding
	// stored while the license was in client mode is kept.
	SecretDisabled = "disabled"
	// SecretPredefined requires a secret whose hash the license carries.
	SecretPredefined = "predefined"
	// SecretClient binds the license to the first secret a checkout
	// presents; only the vendor lifts the binding.
	SecretClient = "client"
)

// Codes of the Licensee Secret.
const (
	// ELicenseeSecretMismatch refuses a checkout whose secret is not the
	// one the license carries or is bound to.
	ELicenseeSecretMismatch = "licensee_secret_mismatch"
	// ELicenseeSecretRequired refuses a checkout without a secret of a
	// feature that only licenses with a Licensee Secret grant.
	ELicenseeSecretRequired = "licensee_secret_required"
	// ESecretNotBound answers an unbind of a license that is not bound.
	ESecretNotBound = "licensee_secret_not_bound"
)

// Sentinel errors of the Licensee Secret.
var (
	ErrLicenseeSecretMismatch = &Error{Code: ELicenseeSecretMismatch}
	ErrLicenseeSecretRequired = &Error{Code: ELicenseeSecretRequired}
)

// HashSecret returns the hash of a Licensee Secret as licenses and stores
// keep it: "sha256:" and 64 lower-case hex digits. The secret itself is
// never stored.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ValidateSecretHash returns an EInvalid error unless h is a hash as
// HashSecret writes it.
func ValidateSecretHash(h string) error {
	hx, ok := strings.CutPrefix(h, "sha256:")
	if b, err := hex.DecodeString(hx); !ok || err != nil || len(b) != sha256.Size || strings.ToLower(hx) != hx {
		return Errorf(EInvalid, "secret hash %q is not valid: give sha256: and 64 lower-case hex digits (the SHA-256 of the secret, as sha256sum prints it)", h)
	}
	return nil
}

func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// SecretBinding is a license in client mode bound to the hash of the first
// secret a checkout presented. It is stored under the license's ID and
// outlives the license's removal, so that removing and loading the license
// again does not lift it: only a vendor's unbind file does.
type SecretBinding struct {
	LicenseID string    `json:"license_id"`
	Hash      string    `json:"hash"`
	BoundAt   time.Time `json:"bound_at"`
}

// gated reports whether the license's seats need a secret.
func (l *License) gated() bool {
	return l.LicenseeSecret == SecretPredefined || l.LicenseeSecret == SecretClient
}

func (l *License) validateSecret() error {
	switch l.LicenseeSecret {
	case "", SecretDisabled, SecretClient:
		if l.SecretHash != "" {
			return Errorf(EInvalid, "a secret hash goes with licensee secret mode predefined only, not %q", l.LicenseeSecret)
		}
	case SecretPredefined:
		if l.SecretHash == "" {
			return Errorf(EInvalid, "licensee secret mode predefined needs the hash of the secret: give --secret-hash sha256:HEX")
		}
		return ValidateSecretHash(l.SecretHash)
	default:
		return Errorf(EInvalid, "licensee secret mode %q is not valid: use disabled, predefined or client", l.LicenseeSecret)
	}
	return nil
}

// encodeSecret writes the licensee_secret lines of a license.
func (l *License) encodeSecret() string {
	switch {
	case l.LicenseeSecret == "":
		return ""
	case l.SecretHash != "":
		return fmt.Sprintf("licensee_secret: %s\nlicensee_secret_hash: %s\n", l.LicenseeSecret, l.SecretHash)
	}
	return fmt.Sprintf("licensee_secret: %s\n", l.LicenseeSecret)
}

// parseSecret reads one licensee_secret line. ok is false when key is not
// one.
func (l *License) parseSecret(key, val string) (ok bool) {
	switch key {
	case "licensee_secret":
		l.LicenseeSecret = val
	case "licensee_secret_hash":
		l.SecretHash = val
	default:
		return false
	}
	return true
}

// secretGate is what a checkout of a feature granted by a license with a
// Licensee Secret must satisfy: the grants of such licenses serve only the
// checkouts that present their secret. A feature no such license grants
// has none, and its checkouts pay nothing.
type secretGate struct {
	grants []gateGrant // every grant of the feature
}

type gateGrant struct {
	Grant
	lic *License
}

// attachSecretGates gives a gate to every pool that a license with a
// Licensee Secret grants, and marks the pools with a grant for registered
// users only.
func attachSecretGates(pools map[string]*pool, licenses map[string]*License) {
	for _, l := range licenses {
		for _, g := range l.Grants {
			if l.gated() {
				pools[g.Feature].secret = &secretGate{}
			}
			if g.Users == UsersNamed {
				pools[g.Feature].named = true
			}
		}
	}
	for _, l := range licenses {
		for _, g := range l.Grants {
			if gate := pools[g.Feature].secret; gate != nil {
				gate.grants = append(gate.grants, gateGrant{g, l})
			}
		}
	}
}
