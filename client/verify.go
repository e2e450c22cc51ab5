package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// DefaultMaxClockSkew is how far the time in a verified answer may be from
// this machine's clock before the SDK reports usher.ErrClockSkew.
const DefaultMaxClockSkew = time.Hour

// verifier checks, for a client given the vendor's keys, that every lease
// comes from a server a vendor license is bound to (docs/sdk.md).
type verifier struct {
	keys    *usher.Keyring
	maxSkew time.Duration

	mu       sync.Mutex
	licenses map[string]*usher.License // verified, by ID
}

// newVerifier reads the vendor keys; none returns nil: nothing verified.
func newVerifier(opts Options) (*verifier, error) {
	if len(opts.VendorKeys) == 0 {
		return nil, nil
	}
	pubs := make([]ed25519.PublicKey, 0, len(opts.VendorKeys))
	for i, k := range opts.VendorKeys {
		pub, err := usher.ParsePublicKey(k)
		if err != nil {
			return nil, usher.Errorf(usher.EInvalid, "Options.VendorKeys[%d]: %v: give the PEM text of the vendor's vendor.pub", i, usher.ErrorMessage(err))
		}
		pubs = append(pubs, pub)
	}
	maxSkew := opts.MaxClockSkew
	if maxSkew <= 0 {
		maxSkew = DefaultMaxClockSkew
	}
	return &verifier{keys: usher.NewKeyring(pubs...), maxSkew: maxSkew, licenses: make(map[string]*usher.License)}, nil
}

// newNonce returns a fresh value for a request to sign back, or "" when
// the client verifies nothing.
func (v *verifier) newNonce() string {
	if v == nil {
		return ""
	}
	return rand.Text()
}

// expect is what a verified answer must say.
type expect struct {
	server, leaseID, feature, clientID, nonce string
}

// check verifies the proof of a checkout or heartbeat answer: the session
// certificate, the token it certifies, what the token names, the license
// it names and that license's binding to the certifying server, then the
// clock. It returns EUntrustedServer or EClockSkew errors.
func (c *Client) check(ctx context.Context, p wire.LeaseProof, want expect) error {
	v := c.verify
	if v == nil {
		return nil
	}
	if p.Token == "" || p.SessionCert == "" {
		return usher.Errorf(usher.EUntrustedServer, "the server at %s answered without a lease token, so this application cannot check that a licensed Usher server answered: upgrade the server, or check what listens there", want.server)
	}
	cert, err := usher.VerifySessionCert(p.SessionCert)
	if err != nil {
		return err
	}
	tok, err := usher.VerifyToken(p.Token, cert.SessionKey)
	if err != nil {
		return err
	}
	if err := matches(tok, cert, want); err != nil {
		return err
	}
	lic, err := c.license(ctx, want.server, tok.LicenseID)
	if err != nil {
		return err
	}
	if err := grants(lic, want.feature, tok.ServerTime); err != nil {
		return err
	}
	if err := lic.CheckSessionCert(cert); err != nil {
		return err
	}
	return v.checkSkew(tok.ServerTime, time.Now())
}

// matches checks that a token answers this request: this lease of this
// feature for this client, the nonce just sent, signed while its session
// certificate was in force.
func matches(tok *usher.Token, cert *usher.SessionCert, want expect) error {
	for _, f := range [...]struct{ name, got, want string }{
		{"purpose", tok.Purpose, usher.TokenLease}, {"lease", tok.LeaseID, want.leaseID},
		{"feature", tok.Feature, want.feature}, {"client", tok.ClientID, want.clientID}, {"nonce", tok.Nonce, want.nonce},
	} {
		if f.got != f.want {
			return usher.Errorf(usher.EUntrustedServer, "the lease token from %s names %s %q, and this request is for %q: the answer was made for another request, or replayed", want.server, f.name, f.got, f.want)
		}
	}
	if !cert.ValidAt(tok.ServerTime) {
		return usher.Errorf(usher.EUntrustedServer, "the lease token from %s was signed at %s, outside its session certificate (%s to %s)",
			want.server, tok.ServerTime.Format(time.RFC3339), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// grants checks that lic grants feature at t.
func grants(lic *usher.License, feature string, t time.Time) error {
	for _, g := range lic.Grants {
		if g.Feature == feature && g.ActiveAt(t) {
			return nil
		}
	}
	return usher.Errorf(usher.EUntrustedServer, "the lease token names license %s, which does not grant feature %s at %s", lic.ID, feature, t.Format(time.RFC3339))
}

// checkSkew reports a server clock far from this one.
func (v *verifier) checkSkew(server, local time.Time) error {
	d := local.Sub(server)
	if d < 0 {
		d = -d
	}
	if d > v.maxSkew {
		return usher.Errorf(usher.EClockSkew, "the server's clock says %s and this machine's says %s, %s apart (more than %s): set both clocks right (NTP)",
			server.Format(time.RFC3339), local.UTC().Format(time.RFC3339), d.Round(time.Second), v.maxSkew)
	}
	return nil
}

// license returns the license id, verified with the vendor keys: from the
// cache, or fetched from server once.
func (c *Client) license(ctx context.Context, server, id string) (*usher.License, error) {
	v := c.verify
	v.mu.Lock()
	lic := v.licenses[id]
	v.mu.Unlock()
	if lic != nil {
		return lic, nil
	}
	text, err := c.fetchLicense(ctx, server, id)
	if err != nil {
		return nil, err
	}
	lic, err = v.keys.Verify(text)
	if err != nil {
		return nil, usher.Errorf(usher.EUntrustedServer, "the license %s that %s shows is not signed by a vendor key this application trusts: %v", id, server, usher.ErrorMessage(err))
	}
	if lic.ID != id {
		return nil, usher.Errorf(usher.EUntrustedServer, "%s showed license %s when asked for %s", server, lic.ID, id)
	}
	v.mu.Lock()
	v.licenses[id] = lic
	v.mu.Unlock()
	return lic, nil
}

// maxLicenseText bounds a license text the SDK reads.
const maxLicenseText = 1 << 20

func (c *Client) fetchLicense(ctx context.Context, server, id string) ([]byte, error) {
	if id == "" {
		return nil, usher.Errorf(usher.EUntrustedServer, "the lease token from %s names no license", server)
	}
	resp, err := c.send(ctx, server, Request{Method: http.MethodGet, Path: wire.LicenseTextPath(id)})
	if err != nil {
		if usher.ErrorCode(err) == usher.EUnavailable {
			return nil, err
		}
		return nil, usher.Errorf(usher.EUntrustedServer, "%s did not show license %s, which its lease token names: %v", server, id, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxLicenseText))
	if err != nil {
		return nil, usher.Errorf(usher.EUnavailable, "read license %s from %s: %v", id, server, err)
	}
	return text, nil
}

// dropUnverified gives back, in one request, a lease a server granted in
// an answer the client could not verify: the application never holds it.
func (c *Client) dropUnverified(ctx context.Context, server, leaseID string, err error) {
	code := usher.ErrorCode(err)
	if leaseID == "" || (code != usher.EUntrustedServer && code != usher.EClockSkew) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
	defer cancel()
	_ = c.do(ctx, http.MethodDelete, server, wire.LeasePath(leaseID), nil, nil)
}
