package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

// endpoint is one route of the API with a request that, once authorized,
// gets a known answer without changing anything the other cases rely on.
type endpoint struct {
	method, path, body string
	need               auth.Access
	ok                 int // status once authorized
}

// endpoints lists every route of the API.
var endpoints = []endpoint{
	{"GET", "/healthz", "", auth.Public, 200},
	{"GET", "/v1/openapi.json", "", auth.Public, 200},
	{"POST", "/v1/auth/login", `{}`, auth.Public, 401},
	{"POST", "/v1/leases", `{"feature":"missing","client":{"id":"c1"}}`, auth.Use, 404},
	{"POST", "/v1/leases/nope/heartbeat", "", auth.Use, 404},
	{"DELETE", "/v1/leases/nope", "", auth.Use, 404},
	{"GET", "/v1/features", "", auth.Read, 200},
	{"GET", "/v1/leases", "", auth.Monitor, 200},
	{"GET", "/v1/queue", "", auth.Monitor, 200},
	{"GET", "/v1/licenses", "", auth.Monitor, 200},
	{"POST", "/v1/licenses", "not a license", auth.Admin, 422},
	{"DELETE", "/v1/licenses/nope", "", auth.Admin, 404},
	{"GET", "/v1/users", "", auth.Admin, 200},
	{"POST", "/v1/users", `{"username":"x","password":"p","role":"nobody"}`, auth.Admin, 400},
	{"DELETE", "/v1/users/nobody", "", auth.Admin, 404},
	{"PUT", "/v1/users/nobody/password", `{"password":"long enough"}`, auth.Admin, 404},
	{"GET", "/v1/tokens", "", auth.Admin, 200},
	{"POST", "/v1/tokens", `{"name":"x"}`, auth.Admin, 400},
	{"DELETE", "/v1/tokens/nope", "", auth.Admin, 404},
	{"GET", "/v1/features/nope/users", "", auth.Monitor, 200},
	{"POST", "/v1/features/nope/users", `{"users":["a"]}`, auth.Admin, 400},
	{"DELETE", "/v1/features/nope/users", `{"users":["a"]}`, auth.Admin, 200},
	{"POST", "/v1/licenses/unbind", "not an unbind file", auth.Admin, 422},
}

// grants is the role model, written out: which access each role has.
var grants = map[auth.Role]map[auth.Access]bool{
	auth.RoleClient:  {auth.Use: true, auth.Read: true},
	auth.RoleMonitor: {auth.Read: true, auth.Monitor: true},
	auth.RoleAdmin:   {auth.Use: true, auth.Read: true, auth.Monitor: true, auth.Admin: true},
}

// credential is one way a request can present itself.
type credential struct {
	name  string
	token string
	role  auth.Role // "" for none; unused for bad
	bad   bool
}

// wantStatus is the expected answer to e with c, given whether clients
// need a credential. Where anyone may call, any credential is ignored.
func wantStatus(e endpoint, c credential, clientAuth bool) int {
	open := e.need == auth.Public || (e.need == auth.Use || e.need == auth.Read) && !clientAuth
	switch {
	case open:
		return e.ok
	case c.bad || c.role == "":
		return http.StatusUnauthorized
	case grants[c.role][e.need]:
		return e.ok
	}
	return http.StatusForbidden
}

func TestAccessMatrix(t *testing.T) {
	for _, mode := range []struct {
		name           string
		clientPassword string
	}{{"open", ""}, {"client-password", "shared secret"}} {
		t.Run(mode.name, func(t *testing.T) {
			srv := MustStartAPI(t, serverOptions{clientPassword: mode.clientPassword})
			creds := credentials(t, srv, mode.clientPassword)
			hc := clientFrom(t, "127.0.0.1")
			clientAuth := srv.Auth.ClientAuthRequired()
			if want := mode.clientPassword != ""; clientAuth != want {
				t.Fatalf("client auth required = %v, want %v", clientAuth, want)
			}
			for _, e := range endpoints {
				for _, c := range creds {
					if e.path == "/v1/auth/login" { // so that the failures do not back off 127.0.0.1
						srv.Clock.Advance(auth.LoginForgetAfter)
					}
					got, code := call(t, hc, srv.URL, e, c.token)
					if want := wantStatus(e, c, clientAuth); got != want {
						t.Errorf("%s %s as %s: got %d (%s), want %d", e.method, e.path, c.name, got, code, want)
					}
					if got == http.StatusForbidden && code != auth.EForbidden || got == http.StatusUnauthorized && code != usher.EUnauthorized {
						t.Errorf("%s %s as %s: status %d with code %q", e.method, e.path, c.name, got, code)
					}
				}
			}
		})
	}
}

// credentials returns every kind of credential the server accepts, plus
// none and a bad one. A client token exists only when clients need a
// credential anyway, since creating one turns that on.
func credentials(t *testing.T, srv *apiServer, clientPassword string) []credential {
	ctx := context.Background()
	login, err := srv.client(t, "").Login(ctx, adminUser, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	_, monitor, err := srv.Auth.CreateToken(ctx, "grafana", auth.RoleMonitor)
	if err != nil {
		t.Fatal(err)
	}
	out := []credential{
		{name: "none"},
		{name: "bad token", token: "usher_nope_nope", bad: true},
		{name: "expired-looking JWT", token: "a.b.c", bad: true},
		{name: "monitor token", token: monitor, role: auth.RoleMonitor},
		{name: "admin login", token: login.Token, role: auth.RoleAdmin},
		{name: "admin.token", token: adminToken, role: auth.RoleAdmin},
	}
	if clientPassword != "" {
		_, client, err := srv.Auth.CreateToken(ctx, "ci", auth.RoleClient)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out,
			credential{name: "client token", token: client, role: auth.RoleClient},
			credential{name: "client password", token: clientPassword, role: auth.RoleClient})
	}
	return out
}

// call sends e with an optional bearer token and returns the status and
// the error code of the answer.
func call(t *testing.T, hc *http.Client, base string, e endpoint, token string) (int, string) {
	t.Helper()
	var body io.Reader
	if e.body != "" {
		body = strings.NewReader(e.body)
	}
	req, err := http.NewRequest(e.method, base+e.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Code
}

func TestClientTokenTurnsOnClientAuth(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	ctx := context.Background()
	admin := srv.client(t, adminToken)
	anon := srv.client(t, "")
	if _, err := anon.Features(ctx); err != nil {
		t.Fatalf("no client credential configured: features should be open: %v", err)
	}
	tok, err := admin.CreateToken(ctx, "build-farm", "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Features(ctx); usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("a client token exists: anonymous features: got %v, want unauthorized", err)
	}
	withToken := srv.client(t, tok.Token)
	lease, created, err := withToken.Checkout(ctx, wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: "job-1"}})
	if err != nil || !created {
		t.Fatalf("checkout with client token: %v (created %v)", err, created)
	}
	if _, err := withToken.Heartbeat(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := withToken.Leases(ctx); usher.ErrorCode(err) != auth.EForbidden {
		t.Fatalf("client token listing leases: got %v, want forbidden", err)
	}
	if err := withToken.Release(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeToken(ctx, "build-farm"); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Features(ctx); err != nil {
		t.Fatalf("client token revoked: features should be open again: %v", err)
	}
}

func TestReleaseAndKick(t *testing.T) {
	const password = "lan password"
	srv := MustStartAPI(t, serverOptions{clientPassword: password})
	ctx := context.Background()
	client := srv.client(t, password)
	checkout := func(id string) string {
		l, _, err := client.Checkout(ctx, wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: id}})
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	mine, theirs := checkout("a"), checkout("b")
	if err := client.Release(ctx, mine); err != nil {
		t.Fatalf("client release: %v", err)
	}
	_, monitor, err := srv.Auth.CreateToken(ctx, "dash", auth.RoleMonitor)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.client(t, monitor).Release(ctx, theirs); usher.ErrorCode(err) != auth.EForbidden {
		t.Fatalf("monitor kick: got %v, want forbidden", err)
	}
	login, err := srv.client(t, "").Login(ctx, adminUser, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.client(t, login.Token).Release(ctx, theirs); err != nil {
		t.Fatalf("admin kick: %v", err)
	}
	if got := len(srv.Ledger.Leases()); got != 0 {
		t.Errorf("%d leases left, want 0", got)
	}
	released, kicked := srv.Events.ofType(usher.EventLeaseReleased), srv.Events.ofType(usher.EventLeaseKicked)
	if len(released) != 1 || released[0].LeaseID != mine || len(kicked) != 1 || kicked[0].LeaseID != theirs {
		t.Errorf("released %+v, kicked %+v; want %s released and %s kicked", released, kicked, mine, theirs)
	}
}
