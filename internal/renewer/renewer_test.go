package renewer_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/renewer"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// vendorSite is a static file server whose files a test changes.
type vendorSite struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests int
}

func (v *vendorSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests++
	b, ok := v.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func (v *vendorSite) put(path string, b []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if b == nil {
		delete(v.files, path)
	} else {
		v.files[path] = b
	}
}

func (v *vendorSite) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests
}

// events records the ledger's event types.
type events struct {
	mu    sync.Mutex
	types []string
}

func (e *events) Observe(ev usher.Event) {
	e.mu.Lock()
	e.types = append(e.types, ev.Type)
	e.mu.Unlock()
}

func (e *events) has(typ string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.types, typ)
}

type fixture struct {
	clock  *ushertest.Clock
	site   *vendorSite
	ledger *usher.Ledger
	ev     *events
	priv   ed25519.PrivateKey
	lic    *usher.License
	ren    *renewer.Renewer
}

func newFixture(t *testing.T) *fixture {
	pub, priv, _ := ed25519.GenerateKey(nil)
	store, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{clock: ushertest.NewClock(t0), site: &vendorSite{files: map[string][]byte{}}, ev: &events{}, priv: priv}
	srv := httptest.NewServer(f.site)
	t.Cleanup(srv.Close)
	f.ledger, err = usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: store, Keyring: usher.NewKeyring(pub), Now: f.clock.Now, Observer: f.ev})
	if err != nil {
		t.Fatal(err)
	}
	f.lic = &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME", IssuedAt: t0, RenewalURL: srv.URL + "/acme/",
		Grants: []usher.Grant{{Feature: "sim", Seats: 1, RenewEvery: 30 * 24 * time.Hour}}}
	text, err := usher.Sign(f.lic, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	f.ren = renewer.New(renewer.Options{Ledger: f.ledger, HTTP: srv.Client(), Now: f.clock.Now, MinBackoff: time.Hour, MaxBackoff: 4 * time.Hour})
	return f
}

func (f *fixture) publish(t *testing.T, until time.Time) {
	r := &usher.Renewal{LicenseID: f.lic.ID, IssuedAt: f.clock.Now(), Until: until}
	text, err := usher.SignRenewal(r, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	f.site.put("/acme/"+usher.RenewalFileName(f.lic.ID), text)
}

func (f *fixture) expiry(t *testing.T) time.Time {
	t.Helper()
	cps := f.ledger.Checkpoints()
	if len(cps) != 1 {
		t.Fatalf("got %d checkpoint licenses, want 1", len(cps))
	}
	return cps[0].TechnicalExpiry
}

func TestRenewsFromHalfThePeriodOn(t *testing.T) {
	f := newFixture(t)
	f.publish(t, t0.AddDate(1, 0, 0))
	if got, want := f.expiry(t), t0.Add(30*24*time.Hour); !got.Equal(want) {
		t.Fatalf("got technical expiry %v at activation, want %v", got, want)
	}
	f.clock.Advance(15*24*time.Hour - time.Second)
	if n := f.ren.Check(context.Background()); n != 0 || f.site.count() != 0 {
		t.Fatalf("before half the period: renewed %d with %d requests, want none", n, f.site.count())
	}
	f.clock.Advance(time.Second)
	if n := f.ren.Check(context.Background()); n != 1 {
		t.Fatalf("at half the period: renewed %d, want 1", n)
	}
	if got, want := f.expiry(t), f.clock.Now().Add(30*24*time.Hour); !got.Equal(want) {
		t.Fatalf("got technical expiry %v after the renewal, want %v", got, want)
	}
	if !f.ev.has(usher.EventLicenseRenewed) {
		t.Fatal("no license_renewed event")
	}
}

func TestWithdrawnLicenseExpiresWithBackoff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Advance(20 * 24 * time.Hour)
	if n := f.ren.Check(ctx); n != 0 || f.site.count() != 1 {
		t.Fatalf("nothing published: renewed %d with %d requests, want 0 with 1", n, f.site.count())
	}
	if !f.ev.has(usher.EventLicenseRenewalFailed) {
		t.Fatal("no license_renewal_failed event")
	}
	f.clock.Advance(time.Hour - time.Second)
	f.ren.Check(ctx)
	if got := f.site.count(); got != 1 {
		t.Fatalf("within the back-off: %d requests, want still 1", got)
	}
	f.clock.Advance(time.Second)
	f.ren.Check(ctx)
	f.clock.Advance(time.Hour) // the second back-off is twice as long
	f.ren.Check(ctx)
	if got := f.site.count(); got != 2 {
		t.Fatalf("after one back-off and within the second: %d requests, want 2", got)
	}
	if _, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "sim", Client: usher.Client{ID: "c1"}}); err != nil {
		t.Fatalf("checkout before the technical expiry: %v", err)
	}
	f.clock.Set(t0.Add(30 * 24 * time.Hour))
	_, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "sim", Client: usher.Client{ID: "c2"}})
	if usher.ErrorCode(err) != usher.EFeatureExpired {
		t.Fatalf("checkout at the technical expiry of a withdrawn license: got %v, want %s", err, usher.EFeatureExpired)
	}
	// A renewal published late, loaded by hand, brings the feature back.
	f.publish(t, t0.AddDate(1, 0, 0))
	if n := f.ren.Check(ctx); n != 1 {
		t.Fatalf("renewal published after the expiry: renewed %d, want 1", n)
	}
	if _, err := f.ledger.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "sim", Client: usher.Client{ID: "c2"}}); err != nil {
		t.Fatalf("checkout after the late renewal: %v", err)
	}
}

func TestRenewalNeverPastUntil(t *testing.T) {
	f := newFixture(t)
	until := t0.Add(20 * 24 * time.Hour)
	f.publish(t, until)
	f.clock.Advance(16 * 24 * time.Hour)
	if n := f.ren.Check(context.Background()); n != 1 {
		t.Fatalf("renewed %d, want 1", n)
	}
	if got := f.expiry(t); !got.Equal(until) {
		t.Fatalf("got technical expiry %v, want the renewal's until %v", got, until)
	}
	f.clock.Set(until.Add(time.Second))
	_, err := f.ledger.RenewLicense(context.Background(), mustFetch(t, f))
	if usher.ErrorCode(err) != usher.ELicenseInvalid {
		t.Fatalf("loading a renewal past its until: got %v, want %s", err, usher.ELicenseInvalid)
	}
}

func mustFetch(t *testing.T, f *fixture) []byte {
	f.site.mu.Lock()
	defer f.site.mu.Unlock()
	return f.site.files["/acme/"+usher.RenewalFileName(f.lic.ID)]
}
