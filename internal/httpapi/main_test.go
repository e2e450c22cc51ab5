package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
)

// Credentials every test server knows.
const (
	adminToken    = "static-admin-token-for-tests"
	adminUser     = "root"
	adminPassword = "admin password"
	feature       = "cad"
)

// events records what the server reports.
type events struct {
	mu   sync.Mutex
	list []usher.Event
}

func (e *events) Observe(ev usher.Event) { e.mu.Lock(); e.list = append(e.list, ev); e.mu.Unlock() }

func (e *events) ofType(typ string) []usher.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []usher.Event
	for _, ev := range e.list {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// apiServer is an API server alone (no daemon) on 127.0.0.1 over a SQLite store, with a
// license for feature cad (2 seats) and the user root (admin).
type apiServer struct {
	URL    string
	Auth   *auth.Authority
	Ledger *usher.Ledger
	Events *events
	Clock  *ushertest.Clock
	Log    *ushertest.Buffer // the server's log, as text
}

type serverOptions struct {
	clientPassword string
	rateLimit      httpapi.RateLimit
	maxRequestSize int64
}

func MustStartAPI(t *testing.T, opts serverOptions) *apiServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := ushertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ev := &events{}
	ledger, err := usher.OpenLedger(ctx, usher.LedgerConfig{Store: st, Keyring: usher.NewKeyring(pub), Now: clk.Now, Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	text, err := usher.Sign(&usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: clk.Now(),
		Grants: []usher.Grant{{Feature: feature, Seats: 2}}}, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.AddLicense(ctx, text); err != nil {
		t.Fatal(err)
	}
	a, err := auth.Open(ctx, auth.Config{Store: st, AdminToken: adminToken, ClientPassword: opts.clientPassword, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, adminUser, adminPassword, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	log := &ushertest.Buffer{}
	api := httpapi.NewServer(httpapi.Config{Ledger: ledger, Auth: a, RateLimit: opts.rateLimit, MaxRequestSize: opts.maxRequestSize,
		Observer: ev, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(log, nil))})
	hs := httptest.NewServer(api)
	t.Cleanup(hs.Close)
	return &apiServer{URL: hs.URL, Auth: a, Ledger: ledger, Events: ev, Clock: clk, Log: log}
}

// client returns an API client with the given bearer token.
func (s *apiServer) client(t *testing.T, token string) *apiclient.Client {
	c := apiclient.MustNew(s.URL, token)
	t.Cleanup(func() { c.Close() })
	return c
}
