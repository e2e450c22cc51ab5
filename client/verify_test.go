package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// trustFixture is a real server, its vendor's public key and its server
// key, for tests of Options.VendorKeys.
type trustFixture struct {
	*Server
	vendorPEM []byte
	serverKey ed25519.PublicKey
}

func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	s := MustStartServer(t, 3*time.Second, nil)
	pem, err := usher.MarshalPublicKey(s.Vendor.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &trustFixture{Server: s, vendorPEM: pem, serverKey: s.Daemon.IdentityKey().Public().(ed25519.PublicKey)}
}

// license signs a license of 2 seats of cad with the real vendor key,
// bound to bindServer (nil: unbound), and returns its text.
func (f *trustFixture) license(t *testing.T, bindServer ed25519.PublicKey) (*usher.License, []byte) {
	t.Helper()
	return signLicense(t, f.Vendor, bindServer)
}

func signLicense(t *testing.T, vendor ed25519.PrivateKey, bindServer ed25519.PublicKey) (*usher.License, []byte) {
	t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "cad", Seats: 2}}, BindServer: bindServer}
	text, err := usher.Sign(lic, vendor)
	if err != nil {
		t.Fatal(err)
	}
	return lic, text
}

func (f *trustFixture) load(t *testing.T, text []byte) {
	t.Helper()
	if _, err := f.Ledger().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
}

func (f *trustFixture) client(t *testing.T, server string, events *Events) *client.Client {
	t.Helper()
	opts := client.Options{Servers: []string{server}, ClientID: "app-1", VendorKeys: [][]byte{f.vendorPEM}, RetryTimeout: 2 * time.Second}
	if events != nil {
		opts.OnEvent = events.Record
	}
	return MustNew(t, opts)
}

// TestVendorKeysBoundLicense checks that a real server serving a license
// bound to it passes every check, at checkout and at each heartbeat.
func TestVendorKeysBoundLicense(t *testing.T) {
	f := newTrustFixture(t)
	_, text := f.license(t, f.serverKey)
	f.load(t, text)
	c := f.client(t, f.URL(), nil)
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatalf("checkout: got %v, want a verified lease", err)
	}
	first := f.LeasesOf("app-1")[0].LastHeartbeat
	ushertest.WaitFor(t, 5*time.Second, 50*time.Millisecond, ushertest.Until("a verified heartbeat", func() bool {
		ls := f.LeasesOf("app-1")
		return len(ls) == 1 && ls[0].LastHeartbeat.After(first)
	}))
	select {
	case <-lease.Done():
		t.Fatalf("lease lost after a heartbeat: %v", lease.Err())
	default:
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestVendorKeysUnboundLicense checks that a real server serving an
// unbound license is not trusted (a fake could show the same text), and
// that the seat it granted is given back.
func TestVendorKeysUnboundLicense(t *testing.T) {
	f := newTrustFixture(t)
	_, text := f.license(t, nil)
	f.load(t, text)
	_, err := f.client(t, f.URL(), nil).Checkout(context.Background(), "cad")
	if !errors.Is(err, usher.ErrUntrustedServer) {
		t.Fatalf("checkout: got %v, want %s", err, usher.EUntrustedServer)
	}
	if !strings.Contains(err.Error(), "not bound") {
		t.Errorf("error %q does not say the license is not bound", err)
	}
	if n := len(f.LeasesOf("app-1")); n != 0 {
		t.Errorf("server holds %d leases after an untrusted checkout, want 0", n)
	}
}

// TestWithoutVendorKeysUnchanged checks that a client without vendor keys
// takes leases as before, and that answers carry a token all the same.
func TestWithoutVendorKeysUnchanged(t *testing.T) {
	f := newTrustFixture(t)
	_, text := f.license(t, nil)
	f.load(t, text)
	c := MustNew(t, client.Options{Servers: []string{f.URL()}, ClientID: "app-1"})
	if _, err := c.Checkout(context.Background(), "cad"); err != nil {
		t.Fatal(err)
	}
}

// fakeServer answers like an Usher server, signing with its own identity
// key and showing licenseText for any license.
func fakeServer(t *testing.T, identity ed25519.PrivateKey, licenseID string, licenseText []byte) *httptest.Server {
	t.Helper()
	sess, err := usher.NewSession(identity, time.Now(), time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/leases", func(w http.ResponseWriter, r *http.Request) {
		var req wire.CheckoutRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now().UTC()
		lease := usher.Lease{ID: "ls_fake", Feature: req.Feature, Client: req.Client, IssuedAt: now, LastHeartbeat: now, ExpiresAt: now.Add(time.Minute)}
		tok := sess.SignToken(usher.Token{Purpose: usher.TokenLease, LeaseID: lease.ID, Feature: req.Feature, ClientID: req.Client.ID,
			Nonce: req.Nonce, LicenseID: licenseID, ServerTime: now, ExpiresAt: lease.ExpiresAt})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.LeaseResponse{Lease: lease, HeartbeatInterval: "20s",
			LeaseProof: wire.LeaseProof{Token: tok, SessionCert: sess.CertText()}})
	})
	mux.HandleFunc("GET /v1/licenses/{id}/text", func(w http.ResponseWriter, r *http.Request) { w.Write(licenseText) })
	mux.HandleFunc("DELETE /v1/leases/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestVendorKeysFakeServer checks that a server signing with its own key
// is not trusted, whatever license it shows: one of another vendor, a real
// unbound one, or a real one bound to the real server; and that the same
// fake showing a real license bound to it is trusted, so each refusal is
// the check's doing.
func TestVendorKeysFakeServer(t *testing.T) {
	f := newTrustFixture(t)
	fakePub, fakeKey := mustEd25519(t)
	_, otherVendor := mustEd25519(t)
	for _, tc := range []struct {
		name   string
		vendor ed25519.PrivateKey
		bind   ed25519.PublicKey
		want   string // error text; "" for a trusted answer
	}{
		{"another vendor's license", otherVendor, fakePub, "not signed by a vendor key"},
		{"replayed unbound license", f.Vendor, nil, "not bound"},
		{"replayed license bound to the real server", f.Vendor, f.serverKey, "bound to server"},
		{"license bound to the fake", f.Vendor, fakePub, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lic, text := signLicense(t, tc.vendor, tc.bind)
			fake := fakeServer(t, fakeKey, lic.ID, text)
			_, err := f.client(t, fake.URL, nil).Checkout(context.Background(), "cad")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want a lease", err)
				}
				return
			}
			if !errors.Is(err, usher.ErrUntrustedServer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s saying %q", err, usher.EUntrustedServer, tc.want)
			}
		})
	}
}

// replayProxy forwards to a real server, but answers every checkout or
// heartbeat after the first with the first one's answer.
type replayProxy struct {
	mu        sync.Mutex
	checkout  []byte
	heartbeat []byte
}

func (p *replayProxy) start(t *testing.T, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		slot := p.slot(resp.Request)
		if slot == nil || resp.StatusCode >= 300 {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if *slot == nil {
			*slot = body
		} else {
			body = *slot
		}
		p.mu.Unlock()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

func (p *replayProxy) slot(r *http.Request) *[]byte {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == wire.PathLeases:
		return &p.checkout
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/heartbeat"):
		return &p.heartbeat
	}
	return nil
}

// TestVendorKeysNonceReplay checks that a replayed answer, valid but made
// for an earlier request, is refused: at checkout, and at a heartbeat,
// where the lease is then lost.
func TestVendorKeysNonceReplay(t *testing.T) {
	f := newTrustFixture(t)
	_, text := f.license(t, f.serverKey)
	f.load(t, text)
	var p replayProxy
	proxy := p.start(t, f.URL())
	c := f.client(t, proxy.URL, nil)
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lease.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("lease still held after replayed heartbeat answers")
	}
	if !errors.Is(lease.Err(), usher.ErrUntrustedServer) || !strings.Contains(lease.Err().Error(), "nonce") {
		t.Errorf("lease lost with %v, want %s naming the nonce", lease.Err(), usher.EUntrustedServer)
	}
	_, err = c.Checkout(context.Background(), "cad")
	if !errors.Is(err, usher.ErrUntrustedServer) || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("replayed checkout: got %v, want %s naming the nonce", err, usher.EUntrustedServer)
	}
}

// TestVendorKeysClockSkew checks that a verified answer from a server
// whose clock is two hours ahead is reported as clock skew.
func TestVendorKeysClockSkew(t *testing.T) {
	f := newTrustFixture(t)
	_, text := f.license(t, f.serverKey)
	f.load(t, text)
	f.clock.Advance(2 * time.Hour)
	_, err := f.client(t, f.URL(), nil).Checkout(context.Background(), "cad")
	if !errors.Is(err, usher.ErrClockSkew) {
		t.Fatalf("got %v, want %s", err, usher.EClockSkew)
	}
}

// TestVendorKeysBadPEM checks that New refuses a vendor key it cannot read.
func TestVendorKeysBadPEM(t *testing.T) {
	_, err := client.New(client.Options{Servers: []string{"127.0.0.1:1"}, VendorKeys: [][]byte{[]byte("not a key")}})
	if !errors.Is(err, usher.ErrInvalid) || !strings.Contains(err.Error(), "VendorKeys[0]") {
		t.Errorf("got %v, want %s naming VendorKeys[0]", err, usher.EInvalid)
	}
}

func mustEd25519(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}
