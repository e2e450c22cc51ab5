package usher

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Renewal file framing. See docs/licensing-models.md.
const (
	renewalBegin  = "-----BEGIN USHER RENEWAL-----"
	renewalEnd    = "-----END USHER RENEWAL-----"
	renewalFormat = "1"
)

// Event types of checkpoint licenses.
const (
	EventLicenseRenewed       = "license_renewed"
	EventLicenseRenewalFailed = "license_renewal_failed"
)

// RenewalFileName returns the name of a license's renewal file under its
// renewal URL: the license ID with ".renewal".
func RenewalFileName(licenseID string) string { return licenseID + ".renewal" }

// RenewalURL returns where the renewal file of lic is published, or "" if
// it names no renewal URL.
func RenewalURL(lic *License) string {
	if lic.RenewalURL == "" {
		return ""
	}
	return strings.TrimSuffix(lic.RenewalURL, "/") + "/" + RenewalFileName(lic.ID)
}

// Renewal is a vendor-signed renewal of a checkpoint license: loaded
// before Until, it extends the license's checkpoint grants to
// renew_every after the load, but not past Until.
type Renewal struct {
	LicenseID string
	IssuedAt  time.Time
	Until     time.Time
	KeyID     string
	Text      []byte
}

func (r *Renewal) encodeBody() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "format: %s\nlicense: %s\nissued: %s\nuntil: %s\n", renewalFormat, r.LicenseID, formatTime(r.IssuedAt), formatTime(r.Until))
	return b.Bytes()
}

// SignRenewal signs a renewal with the vendor key and returns the file.
func SignRenewal(r *Renewal, key ed25519.PrivateKey) ([]byte, error) {
	if !strings.HasPrefix(r.LicenseID, "lic_") || strings.ContainsAny(r.LicenseID, " \t\r\n") {
		return nil, Errorf(EInvalid, "license id %q is not valid: give the id of a license (lic_...)", r.LicenseID)
	}
	r.IssuedAt, r.Until = truncUTC(r.IssuedAt), truncUTC(r.Until)
	if r.Until.IsZero() || !r.Until.After(r.IssuedAt) {
		return nil, Errorf(EInvalid, "renewal until %s is not after now: give a later date", formatTime(r.Until))
	}
	body := r.encodeBody()
	r.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Usher renewal of license %s. The block below is signed by the vendor.\n", r.LicenseID)
	out.WriteString(renewalBegin + "\n")
	out.Write(body)
	fmt.Fprintf(&out, "signature: ed25519 key=%s sig=%s\n", r.KeyID, base64.StdEncoding.EncodeToString(ed25519.Sign(key, body)))
	out.WriteString(renewalEnd + "\n")
	r.Text = out.Bytes()
	return r.Text, nil
}

// VerifyRenewal parses a renewal file and checks its signature against the
// trusted keys. Every failure is an ELicenseInvalid error.
func (k *Keyring) VerifyRenewal(data []byte) (*Renewal, error) {
	if len(data) > 64<<10 {
		return nil, Errorf(ELicenseInvalid, "renewal file is larger than 64 KiB: this is not an Usher renewal")
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	begin, err := findMarker(lines, renewalBegin, "not an Usher renewal")
	if err != nil {
		return nil, err
	}
	end, err := findMarker(lines[begin+1:], renewalEnd, "renewal is cut short")
	if err != nil {
		return nil, err
	}
	block := lines[begin+1 : begin+1+end]
	if len(block) != 5 {
		return nil, Errorf(ELicenseInvalid, "renewal is malformed: ask the vendor for a file made by usher vendor renew")
	}
	body := []byte(strings.Join(block[:4], "\n") + "\n")
	r, err := parseRenewalBody(block[:4])
	if err != nil || !bytes.Equal(r.encodeBody(), body) {
		return nil, Errorf(ELicenseInvalid, "renewal is malformed, not in canonical form or of a newer format: upgrade Usher, or ask the vendor for a file made by usher vendor renew")
	}
	if err := k.checkSignature(block[4], body, "renewal of license "+r.LicenseID); err != nil {
		return nil, err
	}
	r.KeyID = strings.TrimPrefix(strings.Fields(block[4])[2], "key=")
	r.Text = append([]byte(nil), data...)
	return r, nil
}

// parseRenewalBody reads the four lines of a renewal's signed body.
func parseRenewalBody(lines []string) (*Renewal, error) {
	var vals [4]string
	for i, key := range [4]string{"format: ", "license: ", "issued: ", "until: "} {
		v, ok := strings.CutPrefix(lines[i], key)
		if !ok {
			return nil, fmt.Errorf("line %d is not %q", i+1, key)
		}
		vals[i] = v
	}
	if vals[0] != renewalFormat {
		return nil, fmt.Errorf("format %q", vals[0])
	}
	r := &Renewal{LicenseID: vals[1]}
	var err error
	if r.IssuedAt, err = time.Parse(time.RFC3339, vals[2]); err != nil {
		return nil, err
	}
	if r.Until, err = time.Parse(time.RFC3339, vals[3]); err != nil {
		return nil, err
	}
	return r, nil
}

// checkSignature checks a "signature: ed25519 key=... sig=..." line.
func (k *Keyring) checkSignature(line string, body []byte, what string) error {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "signature:" || f[1] != "ed25519" || !strings.HasPrefix(f[2], "key=") || !strings.HasPrefix(f[3], "sig=") {
		return Errorf(ELicenseInvalid, "%s: signature line is missing or malformed", what)
	}
	pub, ok := k.keys[strings.TrimPrefix(f[2], "key=")]
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f[3], "sig="))
	if !ok || err != nil || !ed25519.Verify(pub, body, sig) {
		return Errorf(ELicenseInvalid, "%s: signature does not match a trusted vendor key: ask the vendor for an intact copy", what)
	}
	return nil
}

// RenewLicense loads a renewal: the license's checkpoint grants then
// expire renew_every after now, but not after the renewal's until.
//
// Errors: ELicenseInvalid (a bad signature, an ended renewal, one older
// than the one loaded), ELicenseNotFound, EInvalid (a license without
// checkpoint grants), or a store failure.
func (l *Ledger) RenewLicense(ctx context.Context, text []byte) (*LicenseState, error) {
	r, err := l.keys.VerifyRenewal(text)
	if err != nil {
		return nil, err
	}
	l.licMu.Lock()
	defer l.licMu.Unlock()
	l.mu.Lock()
	now := l.now()
	st, err := l.checkRenewalLocked(r, now)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	next := *st
	next.RenewedAt, next.Until, next.Renewal = now.Truncate(time.Second), r.Until, r.Text
	if err := l.store.PutLicenseState(ctx, next); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.setStateLocked(&next)
	l.rebuildPoolsLocked()
	at := l.tick()
	for _, g := range l.licenses[r.LicenseID].Grants {
		l.serveQueueLocked(g.Feature, at)
	}
	l.mu.Unlock()
	l.emit(Event{Type: EventLicenseRenewed, LicenseID: r.LicenseID})
	return &next, nil
}

func (l *Ledger) checkRenewalLocked(r *Renewal, now time.Time) (*LicenseState, error) {
	lic := l.licenses[r.LicenseID]
	if lic == nil {
		return nil, Errorf(ELicenseNotFound, "license %s is not loaded: add it before its renewal", r.LicenseID)
	}
	if !lic.Checkpoint() {
		return nil, Errorf(EInvalid, "license %s has no renew_every grant: it needs no renewal", r.LicenseID)
	}
	if now.Truncate(time.Second).After(r.Until) {
		return nil, Errorf(ELicenseInvalid, "the renewal of license %s ended on %s: ask the vendor for a fresh one", r.LicenseID, formatTime(r.Until))
	}
	st := l.states[r.LicenseID]
	if st == nil {
		st = &LicenseState{ID: r.LicenseID, ActivatedAt: now.Truncate(time.Second)}
	}
	if r.Until.Before(st.Until) {
		return nil, Errorf(ELicenseInvalid, "the renewal of license %s ends on %s, before the one loaded (%s): use the newest renewal file", r.LicenseID, formatTime(r.Until), formatTime(st.Until))
	}
	return st, nil
}

// RenewalFailed reports a failed fetch of a license's renewal as an event.
func (l *Ledger) RenewalFailed(licenseID string, err error) {
	l.emit(Event{Type: EventLicenseRenewalFailed, LicenseID: licenseID, Reason: ErrorCode(err)})
}

// technicalExpiryLocked returns when a checkpoint grant of a license ends
// unless it is renewed: renew_every after the last renewal (or the
// activation), but not past the renewal's until.
func (l *Ledger) technicalExpiryLocked(id string, g Grant) time.Time {
	st := l.states[id]
	if st == nil {
		return l.base.UTC().Truncate(time.Second).Add(g.RenewEvery)
	}
	from := st.ActivatedAt
	if st.RenewedAt.After(from) {
		from = st.RenewedAt
	}
	end := from.Add(g.RenewEvery)
	if !st.RenewedAt.IsZero() && !st.Until.IsZero() && st.Until.Before(end) {
		end = st.Until
	}
	return end
}

// Checkpoint is the renewal state of one loaded checkpoint license.
type Checkpoint struct {
	LicenseID       string        `json:"license_id"`
	URL             string        `json:"url,omitempty"` // where its renewal file is fetched; empty: by hand only
	RenewedAt       time.Time     `json:"renewed_at"`    // the last renewal, or the activation
	TechnicalExpiry time.Time     `json:"technical_expiry"`
	RenewEvery      time.Duration `json:"-"`
}

// Checkpoints returns the loaded checkpoint licenses, sorted by ID, with
// their technical expiry: the soonest end of their checkpoint grants.
func (l *Ledger) Checkpoints() []Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Checkpoint
	for _, id := range sortedKeys(l.licenses) {
		lic := l.licenses[id]
		if !lic.Checkpoint() {
			continue
		}
		c := Checkpoint{LicenseID: id, URL: RenewalURL(lic)}
		if st := l.states[id]; st != nil {
			c.RenewedAt = st.ActivatedAt
			if st.RenewedAt.After(c.RenewedAt) {
				c.RenewedAt = st.RenewedAt
			}
		}
		for _, g := range lic.Grants {
			if g.RenewEvery == 0 {
				continue
			}
			if end := l.technicalExpiryLocked(id, g); c.TechnicalExpiry.IsZero() || end.Before(c.TechnicalExpiry) {
				c.TechnicalExpiry, c.RenewEvery = end, g.RenewEvery
			}
		}
		out = append(out, c)
	}
	return out
}
