package usher

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// License file framing. See docs/license-format.md.
const (
	licenseBegin   = "-----BEGIN USHER LICENSE-----"
	licenseEnd     = "-----END USHER LICENSE-----"
	licenseFormat  = "1"
	boundFormat    = "2" // a license with binding lines
	maxLicenseSize = 1 << 20
	maxLicensee    = 200
	maxGrants      = 1000
)

var featureNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// License is a vendor-signed grant of features to a licensee. Licenses are
// immutable: a server loads them, stacks their grants, and removes them.
type License struct {
	ID       string
	Licensee string
	IssuedAt time.Time
	Grants   []Grant

	// BindServer, if set, binds the license to the server with this
	// identity key; BindHost, if set, to a host. See CheckBinding.
	BindServer ed25519.PublicKey
	BindHost   *HostBinding
	// BindVolume, if set, binds the license to the data volume with this
	// ID (see NewVolumeID).
	BindVolume string
	// RequireHardwareKey, if set, is the serial of the hardware key the
	// license is served with: only while that key is plugged in.
	RequireHardwareKey string

	// LicenseeSecret is the license's Licensee Secret mode: "" (none),
	// SecretDisabled, SecretPredefined or SecretClient; SecretHash is the
	// HashSecret of a predefined secret. See docs/security.md.
	LicenseeSecret string
	SecretHash     string

	// KeyID names the vendor key that signed the license. Set by Sign and
	// by Keyring.Verify.
	KeyID string
	// Text is the complete signed license file. Set by Sign and by
	// Keyring.Verify; stores keep it so every load verifies it again.
	Text []byte

	// RenewalURL, if set, is where the server fetches renewals of this
	// license's checkpoint grants (see renewal.go).
	RenewalURL string
}

// Grant is one feature line of a license: a number of concurrent seats,
// optionally limited to a time window.
type Grant struct {
	Feature   string
	Seats     int
	Unlimited bool
	StartsAt  time.Time // zero: valid from the start
	ExpiresAt time.Time // zero: never expires

	// Optional attributes, each written key=value after expires= (see
	// grantAttrs and docs/licensing-models.md). Their zero values are
	// today's behaviour.
	Scope   string        // "" (session), process, host or user
	Version string        // dotted version number; "" has none
	Linger  time.Duration // how long a released seat stays with its client
	Borrow  time.Duration // the longest borrow allowed; 0 allows none

	// Meter, Subscription and RenewEvery are the licensing models of
	// license_meter.go; their zero values leave the grant a plain one.
	Meter        Meter
	Subscription Subscription
	RenewEvery   time.Duration // checkpoint: expires this long after the last renewal
	Users        string        // UsersNamed: registered users only (see users.go)
}

// ActiveAt reports whether the grant is within its time window at now.
// License times have one-second resolution: a grant that expires at
// 23:59:59 is valid until that second ends.
func (g Grant) ActiveAt(now time.Time) bool {
	if !g.StartsAt.IsZero() && now.Before(g.StartsAt) {
		return false
	}
	return !g.expiredAt(now)
}

func (g Grant) expiredAt(now time.Time) bool {
	return !g.ExpiresAt.IsZero() && now.Truncate(time.Second).After(g.ExpiresAt)
}

// ValidateFeatureName returns an EInvalid error unless name is a legal
// feature name: lower-case letters, digits, '.', '_' and '-', at most 64.
func ValidateFeatureName(name string) error {
	if !featureNameRE.MatchString(name) {
		return Errorf(EInvalid, "feature name %q is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// NewLicenseID returns a fresh random license ID.
func NewLicenseID() string {
	return "lic_" + randomHex(10)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never returns an error on supported platforms
	}
	return hex.EncodeToString(b)
}

// Validate checks the fields a signer sets. It returns EInvalid errors.
func (l *License) Validate() error {
	if !strings.HasPrefix(l.ID, "lic_") || len(l.ID) > 64 || strings.ContainsAny(l.ID, " \t\r\n") {
		return Errorf(EInvalid, "license id %q is not valid: it must start with lic_ and contain no spaces", l.ID)
	}
	if l.Licensee == "" || len(l.Licensee) > maxLicensee || strings.ContainsAny(l.Licensee, "\r\n") || strings.TrimSpace(l.Licensee) != l.Licensee {
		return Errorf(EInvalid, "licensee %q is not valid: give 1-%d bytes on one line, without leading or trailing spaces", l.Licensee, maxLicensee)
	}
	if l.IssuedAt.IsZero() {
		return Errorf(EInvalid, "license has no issue date")
	}
	if len(l.Grants) == 0 || len(l.Grants) > maxGrants {
		return Errorf(EInvalid, "a license needs between 1 and %d features", maxGrants)
	}
	for _, g := range l.Grants {
		if err := g.validate(); err != nil {
			return err
		}
	}
	if l.BindServer != nil && len(l.BindServer) != ed25519.PublicKeySize {
		return Errorf(EInvalid, "the server key a license is bound to must be an Ed25519 public key")
	}
	if err := l.validateRenewalURL(); err != nil {
		return err
	}
	if _, err := ParseVolumeID(l.BindVolume); l.BindVolume != "" && err != nil {
		return err
	}
	if l.BindHost != nil {
		if err := l.BindHost.validate(); err != nil {
			return err
		}
	}
	if err := validateHardwareKeySerial(l.RequireHardwareKey); err != nil {
		return err
	}
	return l.validateSecret()
}

func (g Grant) validate() error {
	if err := ValidateFeatureName(g.Feature); err != nil {
		return err
	}
	if g.Seats < 0 || (g.Unlimited && g.Seats != 0) {
		return Errorf(EInvalid, "feature %s: seats must be a whole number >= 0 or unlimited", g.Feature)
	}
	if g.Users != "" && g.Users != UsersNamed {
		return Errorf(EInvalid, "feature %s: users=%s is not valid: the one value is users=%s", g.Feature, g.Users, UsersNamed)
	}
	if !g.StartsAt.IsZero() && !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(g.StartsAt) {
		return Errorf(EInvalid, "feature %s: expiry %s is not after start %s", g.Feature, formatTime(g.ExpiresAt), formatTime(g.StartsAt))
	}
	if err := g.validateAttrs(); err != nil {
		return err
	}
	return g.validateModels()
}

// encodeBody returns the canonical, signed part of a license file.
func (l *License) encodeBody() []byte {
	var b bytes.Buffer
	format := licenseFormat
	if l.Bound() {
		format = boundFormat // older servers refuse it rather than serve it anywhere
	}
	if l.hasAttrs() || l.LicenseeSecret != "" {
		format = attrFormat // older servers refuse it rather than ignore an attribute or a secret
	}
	fmt.Fprintf(&b, "format: %s\n", format)
	fmt.Fprintf(&b, "id: %s\n", l.ID)
	fmt.Fprintf(&b, "licensee: %s\n", l.Licensee)
	fmt.Fprintf(&b, "issued: %s\n", formatTime(l.IssuedAt))
	b.WriteString(l.encodeBindings())
	b.WriteString(l.encodeRenewalURL())
	b.WriteString(l.encodeSecret())
	for _, g := range l.Grants {
		fmt.Fprintf(&b, "feature: %s seats=", g.Feature)
		if g.Unlimited {
			b.WriteString("unlimited")
		} else {
			b.WriteString(strconv.Itoa(g.Seats))
		}
		if !g.StartsAt.IsZero() {
			fmt.Fprintf(&b, " starts=%s", formatTime(g.StartsAt))
		}
		if !g.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, " expires=%s", formatTime(g.ExpiresAt))
		}
		var attrs strings.Builder
		g.encodeAttrs(&attrs)
		b.WriteString(attrs.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// KeyID returns the short identifier of a vendor public key: the first 8
// bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign validates l, signs its canonical encoding with the vendor key and
// returns the complete license file. It sets l.KeyID and l.Text, and a
// host binding's Min to DefaultHostMin when it is zero.
func Sign(l *License, key ed25519.PrivateKey) ([]byte, error) {
	if l.BindHost != nil && l.BindHost.Min == 0 {
		l.BindHost.Min = DefaultHostMin(len(l.BindHost.Traits))
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	l.IssuedAt = l.IssuedAt.UTC().Truncate(time.Second)
	for i := range l.Grants {
		l.Grants[i].StartsAt = truncUTC(l.Grants[i].StartsAt)
		l.Grants[i].ExpiresAt = truncUTC(l.Grants[i].ExpiresAt)
	}
	body := l.encodeBody()
	pub := key.Public().(ed25519.PublicKey)
	l.KeyID = KeyID(pub)
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Usher license for %s. The block below is signed by the vendor:\n", l.Licensee)
	out.WriteString("# any change to it makes every Usher server refuse the file.\n")
	out.WriteString(licenseBegin + "\n")
	out.Write(body)
	fmt.Fprintf(&out, "signature: ed25519 key=%s sig=%s\n", l.KeyID, base64.StdEncoding.EncodeToString(ed25519.Sign(key, body)))
	out.WriteString(licenseEnd + "\n")
	l.Text = out.Bytes()
	return l.Text, nil
}

func truncUTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// Keyring holds the vendor public keys a server trusts.
type Keyring struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyring returns a keyring trusting the given vendor keys.
func NewKeyring(keys ...ed25519.PublicKey) *Keyring {
	k := &Keyring{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for _, pub := range keys {
		k.keys[KeyID(pub)] = pub
	}
	return k
}

// Len returns the number of trusted keys.
func (k *Keyring) Len() int { return len(k.keys) }

// Verify parses a license file, checks its signature against the trusted
// keys and returns the license. Every failure is an ELicenseInvalid error
// that says what is wrong.
func (k *Keyring) Verify(data []byte) (*License, error) {
	body, keyID, sig, err := splitLicense(data)
	if err != nil {
		return nil, err
	}
	pub, ok := k.keys[keyID]
	if !ok {
		return nil, Errorf(ELicenseInvalid, "license %s: signature does not match any trusted vendor key (it names key %s): start the server with that vendor's public key (--vendor-key), or ask the vendor for an intact copy", bodyID(body), keyID)
	}
	if !ed25519.Verify(pub, body, sig) {
		return nil, Errorf(ELicenseInvalid, "license %s: signature does not match its content: the file was changed after the vendor signed it; ask the vendor for an intact copy", bodyID(body))
	}
	l, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	l.KeyID = keyID
	l.Text = append([]byte(nil), data...)
	return l, nil
}

// bodyID returns the license ID a body claims, for error messages only.
func bodyID(body []byte) string {
	for _, line := range strings.Split(string(body), "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok && len(id) <= 64 {
			return strconv.Quote(id)
		}
	}
	return "(no id)"
}

// splitLicense finds the signed block and returns its body, key ID and
// signature.
func splitLicense(data []byte) (body []byte, keyID string, sig []byte, err error) {
	return splitSigned(data, licenseBegin, licenseEnd)
}

// splitSigned finds the signed block between the markers begin and end
// and returns its body, key ID and signature.
func splitSigned(data []byte, beginMarker, endMarker string) (body []byte, keyID string, sig []byte, err error) {
	if len(data) > maxLicenseSize {
		return nil, "", nil, Errorf(ELicenseInvalid, "license file is larger than %d bytes", maxLicenseSize)
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	begin, err := findMarker(lines, beginMarker, "not an Usher license")
	if err != nil {
		return nil, "", nil, err
	}
	end, err := findMarker(lines[begin+1:], endMarker, "license is cut short")
	if err != nil {
		return nil, "", nil, err
	}
	block := lines[begin+1 : begin+1+end]
	if len(block) == 0 {
		return nil, "", nil, Errorf(ELicenseInvalid, "license signature line is missing or malformed: want \"signature: ed25519 key=... sig=...\"")
	}
	sigLine := block[len(block)-1]
	if len(block) > 1 {
		body = []byte(strings.Join(block[:len(block)-1], "\n") + "\n")
	}
	fields := strings.Fields(sigLine)
	if len(fields) != 4 || fields[0] != "signature:" || fields[1] != "ed25519" ||
		!strings.HasPrefix(fields[2], "key=") || !strings.HasPrefix(fields[3], "sig=") {
		return nil, "", nil, Errorf(ELicenseInvalid, "license signature line is missing or malformed: want \"signature: ed25519 key=... sig=...\"")
	}
	sig, decErr := base64.StdEncoding.DecodeString(strings.TrimPrefix(fields[3], "sig="))
	if decErr != nil || len(sig) != ed25519.SignatureSize {
		return nil, "", nil, Errorf(ELicenseInvalid, "license signature is not a valid base64 Ed25519 signature")
	}
	return body, strings.TrimPrefix(fields[2], "key="), sig, nil
}

// findMarker returns the index of the first line that is exactly marker,
// trailing white space aside. A marker with text before it (indentation,
// "> " from an e-mail reply) or after it is an error, not a match: the
// signed body must stay exactly as issued.
func findMarker(lines []string, marker, missing string) (int, error) {
	for i, line := range lines {
		trimmed := strings.TrimRight(line, " \t\r")
		if trimmed == marker {
			return i, nil
		}
		j := strings.Index(trimmed, marker)
		switch {
		case j > 0:
			return 0, Errorf(ELicenseInvalid, "the license lines are indented or quoted (e.g. \"> \" from an e-mail reply): remove the prefix from every line of the license")
		case j == 0:
			return 0, Errorf(ELicenseInvalid, "the %q line has text after the marker: remove it", marker)
		}
	}
	return 0, Errorf(ELicenseInvalid, "%s: no %q line found", missing, marker)
}

// parseBody parses the signed body strictly: only the canonical encoding is
// accepted, so that one license has exactly one valid text.
func parseBody(body []byte) (*License, error) {
	l := &License{}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	switch lines[0] {
	case "format: " + licenseFormat, "format: " + boundFormat, "format: " + attrFormat:
	default:
		return nil, Errorf(ELicenseInvalid, "license format is not supported: this server reads formats %s, %s and %s; the license is in a newer format: upgrade Usher to read it", licenseFormat, boundFormat, attrFormat)
	}
	for _, line := range lines[1:] {
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, Errorf(ELicenseInvalid, "license line %q is malformed", line)
		}
		if err := l.parseField(key, val); err != nil {
			return nil, err
		}
	}
	if err := l.Validate(); err != nil {
		return nil, Errorf(ELicenseInvalid, "license content is not valid: %s", ErrorMessage(err))
	}
	if !bytes.Equal(l.encodeBody(), body) {
		return nil, Errorf(ELicenseInvalid, "license content is not in canonical form: the vendor's signing tool did not write it; ask the vendor for a file made by usher vendor issue")
	}
	return l, nil
}

func (l *License) parseField(key, val string) error {
	if ok, err := l.parseBinding(key, val); ok {
		if err != nil && ErrorCode(err) != ELicenseInvalid {
			return Errorf(ELicenseInvalid, "license field %s: %s", key, errorText(err))
		}
		return err
	}
	if l.parseSecret(key, val) {
		return nil // checked by Validate
	}
	var err error
	switch key {
	case "id":
		l.ID = val
	case "licensee":
		l.Licensee = val
	case "issued":
		l.IssuedAt, err = time.Parse(time.RFC3339, val)
	case "renewal_url":
		l.RenewalURL = val
	case "feature":
		var g Grant
		g, err = parseGrantLine(val)
		l.Grants = append(l.Grants, g)
	default:
		return Errorf(ELicenseInvalid, "license has unknown field %q", key)
	}
	if err != nil {
		return Errorf(ELicenseInvalid, "license field %s: %v", key, err)
	}
	return nil
}

// errorText returns the message of a coded error, or the text of another.
func errorText(err error) string {
	if ErrorCode(err) == EInternal {
		return err.Error()
	}
	return ErrorMessage(err)
}

func parseGrantLine(val string) (Grant, error) {
	fields := strings.Split(val, " ")
	g := Grant{Feature: fields[0]}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return g, fmt.Errorf("malformed attribute %q", f)
		}
		var err error
		switch k {
		case "seats":
			if v == "unlimited" {
				g.Unlimited = true
			} else {
				g.Seats, err = strconv.Atoi(v)
			}
		case "starts":
			g.StartsAt, err = time.Parse(time.RFC3339, v)
		case "expires":
			g.ExpiresAt, err = time.Parse(time.RFC3339, v)
		default:
			err = g.parseAttrLine(k, v)
		}
		if err != nil {
			return g, fmt.Errorf("attribute %s: %v", k, err)
		}
	}
	return g, nil
}

// MarshalPrivateKey encodes a vendor private key as PKCS#8 PEM.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes a vendor public key as PKIX PEM.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PKCS#8 PEM Ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, Errorf(EInvalid, "not a PEM \"PRIVATE KEY\": use the vendor.key that usher vendor keygen wrote")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, Errorf(EInvalid, "private key: %v", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, Errorf(EInvalid, "private key is not an Ed25519 key")
	}
	return priv, nil
}

// ParsePublicKey decodes a PKIX PEM Ed25519 public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, Errorf(EInvalid, "not a PEM \"PUBLIC KEY\": use the vendor.pub that usher vendor keygen wrote")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, Errorf(EInvalid, "public key: %v", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, Errorf(EInvalid, "public key is not an Ed25519 key")
	}
	return pub, nil
}
