package usher

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// Host traits a server reads to fingerprint its host. Each is hashed with
// HashTrait before it leaves the server.
const (
	TraitMachineID   = "machine-id"   // /etc/machine-id
	TraitProductUUID = "product-uuid" // the DMI product UUID
	TraitMAC         = "mac"          // the MAC addresses of the physical interfaces
	TraitDiskSerial  = "disk-serial"  // the serial of the root disk
	TraitHostname    = "hostname"
)

const (
	maxTraits     = 16
	traitHashSize = 12 // bytes of SHA-256 kept
)

var traitNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ServerIdentity is what a license can be bound to: the server's identity
// key and the hashed traits of its host.
type ServerIdentity struct {
	Key  ed25519.PublicKey
	Host HostTraits
	// Volume is the ID of the data volume the server runs on (see
	// NewVolumeID); empty when it has none.
	Volume string
	// Signer, if set, holds the private half of Key: the server signs
	// release receipts with it (see Ledger.ReleaseLicense).
	Signer crypto.Signer
	// HardwareKey is the serial of the hardware key the server holds its
	// identity in, or "" when it has none.
	HardwareKey string
}

// HostTraits maps a trait name (TraitMachineID, ...) to its hash.
type HostTraits map[string]string

// HashTrait returns the hash of one host trait. The trait's name salts it,
// so that the hashes of two traits cannot be compared with each other.
func HashTrait(name, value string) string {
	sum := sha256.Sum256([]byte("usher-host-trait\x00" + name + "\x00" + value))
	return hex.EncodeToString(sum[:traitHashSize])
}

// String returns the host fingerprint: name=hash pairs, sorted by name and
// separated by commas. ParseHostFingerprint reads it back.
func (h HostTraits) String() string {
	parts := make([]string, 0, len(h))
	for _, name := range sortedKeys(h) {
		parts = append(parts, name+"="+h[name])
	}
	return strings.Join(parts, ",")
}

// ParseHostFingerprint reads a fingerprint written by HostTraits.String.
// It returns EInvalid errors.
func ParseHostFingerprint(s string) (HostTraits, error) {
	h := HostTraits{}
	for _, part := range strings.Split(s, ",") {
		name, hash, _ := strings.Cut(strings.TrimSpace(part), "=")
		if err := validateTrait(name, hash); err != nil {
			return nil, err
		}
		if _, dup := h[name]; dup {
			return nil, Errorf(EInvalid, "host fingerprint names trait %s twice: copy it whole from usher server fingerprint", name)
		}
		h[name] = hash
	}
	if len(h) > maxTraits {
		return nil, Errorf(EInvalid, "host fingerprint has %d traits, more than %d: copy it whole from usher server fingerprint", len(h), maxTraits)
	}
	return h, nil
}

func validateTrait(name, hash string) error {
	if !traitNameRE.MatchString(name) {
		return Errorf(EInvalid, "host trait name %q is not valid: copy the fingerprint whole from usher server fingerprint", name)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != traitHashSize || strings.ToLower(hash) != hash {
		return Errorf(EInvalid, "host trait %s: %q is not a trait hash (%d lower-case hex digits): copy the fingerprint whole from usher server fingerprint", name, hash, 2*traitHashSize)
	}
	return nil
}

// HostBinding binds a license to a host, loosely: the host matches while
// at least Min of the named traits are the same, so that one changed part
// (a new network card) does not refuse the license.
type HostBinding struct {
	Traits HostTraits
	Min    int
}

// DefaultHostMin returns the default number of traits that must match out
// of n: all but one, and at least one.
func DefaultHostMin(n int) int { return max(n-1, 1) }

// FormatServerKey returns the text form of a server's identity key: the 32
// bytes of the Ed25519 public key in standard base64.
func FormatServerKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParseServerKey reads a key written by FormatServerKey. It returns
// EInvalid errors.
func ParseServerKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, Errorf(EInvalid, "%q is not a server key: copy the server_key that usher server fingerprint prints (44 characters of base64)", s)
	}
	return ed25519.PublicKey(b), nil
}

// ServerGUID returns the stable GUID of a server: a UUID-shaped digest of
// its identity key.
func ServerGUID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(append([]byte("usher-server-guid\x00"), pub...))
	s[6] = s[6]&0x0f | 0x80 // version 8: a custom UUID
	s[8] = s[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(s[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Bound reports whether the license is bound to a server or a host.
func (l *License) Bound() bool {
	return l.BindServer != nil || l.BindHost != nil || l.BindVolume != "" || l.RequireHardwareKey != ""
}

// CheckBinding returns nil when the server id may serve l, and an
// ELicenseBoundElsewhere error saying what differs otherwise. A server
// without an identity serves unbound licenses only.
func (l *License) CheckBinding(id *ServerIdentity) error {
	if !l.Bound() {
		return nil
	}
	if id == nil {
		return Errorf(ELicenseBoundElsewhere, "license %s is bound to a server, and this one has no identity: serve it from a server started with a data directory", l.ID)
	}
	if err := l.checkHardwareKey(id); err != nil {
		return err
	}
	if l.BindServer != nil && !l.BindServer.Equal(id.Key) {
		return Errorf(ELicenseBoundElsewhere, "license %s is bound to server %s, and this server is %s: serve it there, or ask the vendor for a license bound to this server (usher server fingerprint prints its key)",
			l.ID, FormatServerKey(l.BindServer), FormatServerKey(id.Key))
	}
	if err := l.checkVolume(id.Volume); err != nil {
		return err
	}
	if l.BindHost != nil {
		return l.BindHost.check(l.ID, id.Host)
	}
	return nil
}

func (b *HostBinding) check(licenseID string, host HostTraits) error {
	var differ []string
	for _, name := range sortedKeys(b.Traits) {
		if host[name] != b.Traits[name] {
			differ = append(differ, name)
		}
	}
	if matched := len(b.Traits) - len(differ); matched < b.Min {
		return Errorf(ELicenseBoundElsewhere, "license %s is bound to another host: %d of its %d host traits match here, %d must; these differ: %s. Serve it on the host it was issued for, or send the vendor this host's usher server fingerprint",
			licenseID, matched, len(b.Traits), b.Min, strings.Join(differ, ", "))
	}
	return nil
}

func (b *HostBinding) validate() error {
	if len(b.Traits) == 0 || len(b.Traits) > maxTraits {
		return Errorf(EInvalid, "a host binding names between 1 and %d traits", maxTraits)
	}
	for name, hash := range b.Traits {
		if err := validateTrait(name, hash); err != nil {
			return err
		}
	}
	if b.Min < 1 || b.Min > len(b.Traits) {
		return Errorf(EInvalid, "a host binding needs between 1 and %d matching traits, not %d", len(b.Traits), b.Min)
	}
	return nil
}

// encodeBindings writes the binding lines of a bound license.
func (l *License) encodeBindings() string {
	var b strings.Builder
	if l.BindServer != nil {
		fmt.Fprintf(&b, "bind-server: %s\n", FormatServerKey(l.BindServer))
	}
	if l.BindHost != nil {
		fmt.Fprintf(&b, "bind-host: min=%d %s\n", l.BindHost.Min, strings.ReplaceAll(l.BindHost.Traits.String(), ",", " "))
	}
	if l.BindVolume != "" {
		fmt.Fprintf(&b, "bind-volume: %s\n", l.BindVolume)
	}
	if l.RequireHardwareKey != "" {
		fmt.Fprintf(&b, "require-hardware-key: %s\n", l.RequireHardwareKey)
	}
	return b.String()
}

// parseBinding reads one binding line. ok is false when key is not one.
func (l *License) parseBinding(key, val string) (ok bool, err error) {
	switch key {
	case "bind-server":
		l.BindServer, err = ParseServerKey(val)
	case "bind-host":
		l.BindHost, err = parseHostBinding(val)
	case "bind-volume":
		l.BindVolume, err = ParseVolumeID(val)
	case "require-hardware-key":
		l.RequireHardwareKey = val
	default:
		if strings.HasPrefix(key, "bind-") || strings.HasPrefix(key, "require-") {
			return true, Errorf(ELicenseInvalid, "license %s is bound by %q, which this version of Usher does not know: upgrade Usher to serve it", l.ID, key)
		}
		return false, nil
	}
	return true, err
}

func parseHostBinding(val string) (*HostBinding, error) {
	minAttr, traits, _ := strings.Cut(val, " ")
	n, err := strconv.Atoi(strings.TrimPrefix(minAttr, "min="))
	if err != nil || !strings.HasPrefix(minAttr, "min=") {
		return nil, fmt.Errorf("want min=N before the traits")
	}
	h, err := ParseHostFingerprint(strings.ReplaceAll(traits, " ", ","))
	if err != nil {
		return nil, err
	}
	return &HostBinding{Traits: h, Min: n}, nil
}

// BindingGate says whether this server may serve its bound licenses now:
// on one host, only one server with a given identity may. A nil or zero
// gate serves them. Checkouts of features with bound grants read it, once.
type BindingGate struct {
	blocked atomic.Pointer[string]
}

// Block stops serving bound licenses, for the reason given.
func (g *BindingGate) Block(reason string) { g.blocked.Store(&reason) }

// Open serves bound licenses again.
func (g *BindingGate) Open() { g.blocked.Store(nil) }

// Blocked returns why bound licenses are not served, if they are not.
func (g *BindingGate) Blocked() (reason string, blocked bool) {
	if g == nil {
		return "", false
	}
	r := g.blocked.Load()
	if r == nil {
		return "", false
	}
	return *r, true
}
