package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestMain fails the tests when a store's writer outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var signingKey = []byte("0123456789abcdef0123456789abcdef")

// MustOpen opens an Authority over a SQLite store in dir.
func MustOpen(tb testing.TB, dir string, cfg auth.Config) *auth.Authority {
	tb.Helper()
	st, err := sqlite.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	cfg.Store = st
	if cfg.SigningKey == nil {
		cfg.SigningKey = signingKey
	}
	a, err := auth.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := usher.ErrorCode(err); got != code {
		t.Fatalf("error %v: got code %q, want %q", err, got, code)
	}
}

func TestLoginAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	clk := ushertest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	a := MustOpen(t, t.TempDir(), auth.Config{Now: clk.Now, TokenTTL: time.Hour})
	if _, err := a.AddUser(ctx, "ann", "correct horse", auth.RoleMonitor); err != nil {
		t.Fatal(err)
	}
	_, err := a.AddUser(ctx, "ann", "correct horse", auth.RoleMonitor)
	wantCode(t, err, auth.EUserExists)
	_, _, err = a.Login(ctx, "ann", "wrong password", "127.0.0.1")
	wantCode(t, err, usher.EUnauthorized)
	_, _, err = a.Login(ctx, "nobody", "correct horse", "127.0.0.1")
	wantCode(t, err, usher.EUnauthorized)

	tok, exp, err := a.Login(ctx, "ann", "correct horse", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	p, err := a.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := (auth.Principal{Name: "ann", Role: auth.RoleMonitor, Kind: auth.KindUser}); p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	clk.Advance(time.Hour + time.Second)
	_, err = a.Authenticate(tok)
	wantCode(t, err, usher.EUnauthorized)
}

func TestPasswordChangeAndRemovalEndLogins(t *testing.T) {
	ctx := context.Background()
	a := MustOpen(t, t.TempDir(), auth.Config{})
	if _, err := a.AddUser(ctx, "bob", "first password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Login(ctx, "bob", "first password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetPassword(ctx, "bob", "second password"); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(tok)
	wantCode(t, err, usher.EUnauthorized)
	if tok, _, err = a.Login(ctx, "bob", "second password", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(tok)
	wantCode(t, err, usher.EUnauthorized)
	wantCode(t, a.RemoveUser(ctx, "bob"), auth.EUserNotFound)
	wantCode(t, a.SetPassword(ctx, "bob", "third password"), auth.EUserNotFound)
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	a := MustOpen(t, t.TempDir(), auth.Config{})
	for _, tc := range []struct{ name, password, role string }{
		{"", "long enough", "admin"},
		{"has space", "long enough", "admin"},
		{"ok", "short", "admin"},
		{"ok", "long enough", "root"},
	} {
		_, err := a.AddUser(ctx, tc.name, tc.password, auth.Role(tc.role))
		wantCode(t, err, usher.EInvalid)
	}
	_, _, err := a.CreateToken(ctx, "x", "root")
	wantCode(t, err, usher.EInvalid)
}

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := MustOpen(t, dir, auth.Config{})
	tok, secret, err := a.CreateToken(ctx, "grafana", auth.RoleMonitor)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok.SecretHash, secret) || tok.SecretHash == "" {
		t.Fatalf("stored hash %q must not contain the secret", tok.SecretHash)
	}
	p, err := a.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "grafana" || p.Role != auth.RoleMonitor || p.Kind != auth.KindToken {
		t.Errorf("got %+v", p)
	}
	_, err = a.Authenticate(secret[:len(secret)-1] + "x")
	wantCode(t, err, usher.EUnauthorized)
	_, _, err = a.CreateToken(ctx, "grafana", auth.RoleMonitor)
	wantCode(t, err, auth.ETokenExists)
	for _, l := range a.Tokens() {
		if l.SecretHash != "" {
			t.Errorf("Tokens lists a secret hash: %+v", l)
		}
	}
	if _, err := a.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(secret)
	wantCode(t, err, usher.EUnauthorized)
	_, err = a.RevokeToken(ctx, "grafana")
	wantCode(t, err, auth.ETokenNotFound)
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.Open(ctx, auth.Config{Store: st, SigningKey: signingKey})
	if err != nil {
		t.Fatal(err)
	}
	password, err := a.Bootstrap(ctx)
	if err != nil || password == "" {
		t.Fatalf("bootstrap: %q, %v", password, err)
	}
	_, secret, err := a.CreateToken(ctx, "ci", auth.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	b := MustOpen(t, dir, auth.Config{})
	if again, err := b.Bootstrap(ctx); err != nil || again != "" {
		t.Fatalf("second bootstrap: %q, %v; want nothing created", again, err)
	}
	if _, _, err := b.Login(ctx, auth.BootstrapUser, password, "127.0.0.1"); err != nil {
		t.Fatalf("login after reopen: %v", err)
	}
	if _, err := b.Authenticate(secret); err != nil {
		t.Fatalf("API token after reopen: %v", err)
	}
	if !b.ClientAuthRequired() {
		t.Error("a client token exists: clients should need a credential")
	}
}

func TestStaticCredentials(t *testing.T) {
	a := MustOpen(t, t.TempDir(), auth.Config{AdminToken: "static-admin", ClientPassword: "shared-client"})
	p, err := a.Authenticate("static-admin")
	if err != nil || p.Role != auth.RoleAdmin || p.Kind != auth.KindAdminToken {
		t.Errorf("admin token: %+v, %v", p, err)
	}
	p, err = a.Authenticate("shared-client")
	if err != nil || p.Role != auth.RoleClient || p.Kind != auth.KindClientPassword {
		t.Errorf("client password: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "static-admi", "a.b.c", "usher_x_y", "usher_"} {
		if _, err := a.Authenticate(bad); !errors.Is(err, usher.ErrUnauthorized) {
			t.Errorf("Authenticate(%q) = %v, want unauthorized", bad, err)
		}
	}
	if !a.ClientAuthRequired() {
		t.Error("client password set: clients should need a credential")
	}
	open := MustOpen(t, t.TempDir(), auth.Config{})
	if open.ClientAuthRequired() {
		t.Error("nothing set: clients should need no credential")
	}
}

func TestRoleAllows(t *testing.T) {
	want := map[auth.Role][]auth.Access{
		auth.RoleAdmin:   {auth.Public, auth.Use, auth.Read, auth.Monitor, auth.Admin},
		auth.RoleMonitor: {auth.Public, auth.Read, auth.Monitor},
		auth.RoleClient:  {auth.Public, auth.Use, auth.Read},
		"":               {auth.Public},
	}
	for role, allowed := range want {
		for a := auth.Public; a <= auth.Admin; a++ {
			if got, w := role.Allows(a), slices.Contains(allowed, a); got != w {
				t.Errorf("%q.Allows(%v) = %v, want %v", role, a, got, w)
			}
		}
	}
}
