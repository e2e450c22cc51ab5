package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/ushertest"
)

// clusterOnly marks the operations only a cluster node serves.
const clusterOnly = "x-usher-cluster-only"

// loadOpenAPI loads the server's OpenAPI document and checks that it is a
// valid OpenAPI 3.1 document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("internal/httpapi/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("internal/httpapi/openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentsEveryRoute checks the document against the routes of
// a whole server, both ways.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	s := ushertest.StartServer(t, ushertest.ServerOptions{})
	served := map[string]bool{}
	for _, route := range s.Daemon.Routes() {
		served[route] = true
		method, path, _ := strings.Cut(route, " ")
		if item := doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
			t.Errorf("the server serves %s, which internal/httpapi/openapi.json does not document: add %q with its %s operation, responses and schemas under \"paths\"", route, path, strings.ToLower(method))
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !served[method+" "+path] && op.Extensions[clusterOnly] == nil {
				t.Errorf("internal/httpapi/openapi.json documents %s %s, which the server does not serve: remove it, or mark it %q if only a cluster node serves it", method, path, clusterOnly)
			}
		}
	}
}

// walker sends requests to a live server and checks each answer against
// the document: its status must be documented for the operation, and its
// body must match the schema given for that status.
type walker struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	seen   map[string][]int // "METHOD /path/{x}": statuses answered
}

func newWalker(t *testing.T, doc *openapi3.T, base string) *walker {
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &walker{t: t, doc: doc, router: router, base: base, seen: map[string][]int{}}
}

// expect sends a request with an optional bearer token and a JSON (or,
// when it is not an object, license text) body, checks that the status is
// want and the answer is as documented, and returns the decoded body.
func (w *walker) expect(method, path, token, body string, want int) map[string]any {
	w.t.Helper()
	status, header, data := w.send(method, path, token, body, nil)
	if status != want {
		w.t.Errorf("%s %s answered %d %s, want %d", method, path, status, data, want)
	}
	w.check(method, path, token, body, status, header, data, false)
	var out map[string]any
	json.Unmarshal(data, &out)
	return out
}

func (w *walker) send(method, path, token, body string, ctx context.Context) (int, http.Header, []byte) {
	w.t.Helper()
	if ctx == nil {
		ctx = context.Background()
	}
	req := w.request(ctx, method, path, token, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var data []byte
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		data, _ = io.ReadAll(resp.Body)
	}
	return resp.StatusCode, resp.Header, data
}

func (w *walker) request(ctx context.Context, method, path, token, body string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if !strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "text/plain")
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// check validates an answer against the document; a successful request
// is validated too, so that the document's request schemas are checked.
func (w *walker) check(method, path, token, body string, status int, header http.Header, data []byte, noBody bool) {
	w.t.Helper()
	req := w.request(context.Background(), method, path, token, body)
	route, params, err := w.router.FindRoute(req)
	if err != nil {
		w.t.Errorf("%s %s matches no operation of internal/httpapi/openapi.json: %v", method, path, err)
		return
	}
	key := method + " " + route.Path
	w.seen[key] = append(w.seen[key], status)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, ExcludeResponseBody: noBody}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			w.t.Errorf("the request %s %s %s does not match its documented schema: %v", method, path, body, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(data)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		w.t.Errorf("%s %s answered %d %s, which internal/httpapi/openapi.json does not describe for %s: %v", method, path, status, data, key, err)
	}
}

// stream opens an event stream, checks its answer as documented and
// closes it.
func (w *walker) stream(path, token string) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status, header, _ := w.send(http.MethodGet, path, token, "", ctx)
	if status != http.StatusOK {
		w.t.Errorf("GET %s answered %d, want 200", path, status)
	}
	w.check(http.MethodGet, path, token, "", status, header, nil, true)
}

// unauthenticated calls every operation that needs a credential without
// one, and checks the documented 401.
func (w *walker) unauthenticated() {
	for path, item := range w.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Extensions[clusterOnly] != nil || optionalAuth(w.doc, op) {
				continue
			}
			concrete := strings.NewReplacer("{id}", "x", "{name}", "x").Replace(path)
			w.expect(method, concrete, "", "", http.StatusUnauthorized)
		}
	}
}

// optionalAuth reports whether op can be called without a credential.
func optionalAuth(doc *openapi3.T, op *openapi3.Operation) bool {
	sec := doc.Security
	if op.Security != nil {
		sec = *op.Security
	}
	return slices.ContainsFunc(sec, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })
}

// covered fails for every operation the walk never saw succeed.
func (w *walker) covered() {
	for path, item := range w.doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			if op.Extensions[clusterOnly] == nil && !slices.ContainsFunc(w.seen[key], func(s int) bool { return s < 300 }) {
				w.t.Errorf("internal/httpapi/openapi.json documents %s, which the test never saw succeed (answers: %v): add a request for it to TestOpenAPIAnswers", key, w.seen[key])
			}
		}
	}
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// TestOpenAPIAnswers walks the document against a live server: every
// documented operation is called until it succeeds, along with its error
// answers, and every answer must be documented, body and all.
func TestOpenAPIAnswers(t *testing.T) {
	var s *ushertest.Server
	s = ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 2},
		Daemon: daemon.Options{Reload: func() (daemon.Config, error) { return s.Config, nil }}})
	w := newWalker(t, loadOpenAPI(t), s.URL())
	w.unauthenticated()
	walkPublic(w)
	walkLeases(w, s)
	walkLicenses(w, s)
	walkAccess(w, s) // openapi_access_test.go
	walkUsers(w, s.Token)
	walkObservability(w, s.Token)
	walkAdmin(w, s.Token)
	walkPolicy(w, s.Token)
	walkMeter(w, s) // meter_openapi_test.go
	walkWebhooks(w, s.Token)

	w.expect("POST", "/v1/admin/restart", s.Token, "", 202)
	other := ushertest.StartServer(t, ushertest.ServerOptions{})
	var err error
	w.base = other.URL()
	w.doc.Servers = openapi3.Servers{{URL: w.base}}
	if w.router, err = legacy.NewRouter(w.doc); err != nil {
		t.Fatal(err)
	}
	w.expect("POST", "/v1/admin/shutdown", other.Token, "", 202)
	select {
	case <-other.Daemon.Done():
	case <-time.After(10 * time.Second):
		t.Error("the server did not shut down within 10s of POST /v1/admin/shutdown")
	}
	w.covered()
}

func walkPublic(w *walker) {
	w.expect("GET", "/healthz", "", "", 200)
	w.expect("GET", "/v1/server", "", "", 200)
	w.expect("GET", "/v1/openapi.json", "", "", 200)
}

func walkLeases(w *walker, s *ushertest.Server) {
	checkout := func(id string) string {
		return `{"feature":"cad","client":{"id":"` + id + `","user":"ann","host":"ws1","pid":42}}`
	}
	lease := w.expect("POST", "/v1/leases", "", checkout("c1"), 201)
	id := str(lease, "id")
	w.expect("POST", "/v1/leases", "", checkout("c1"), 200)
	w.expect("POST", "/v1/leases", "", checkout("c2"), 201)
	w.expect("POST", "/v1/leases", "", checkout("c3"), 409)
	w.expect("POST", "/v1/leases", "", `{"feature":"nope","client":{"id":"c1"}}`, 404)
	w.expect("POST", "/v1/leases", "", `{"feature":"cad"}`, 400)
	w.expect("POST", "/v1/leases/"+id+"/heartbeat", "", "", 200)
	w.expect("POST", "/v1/leases/"+id+"/heartbeat", "", `{"nonce":"n-1"}`, 200)
	w.expect("POST", "/v1/leases/nope/heartbeat", "", "", 404)
	w.expect("GET", "/v1/leases", s.Token, "", 200)
	w.expect("GET", "/v1/features", "", "", 200)
	w.expect("GET", "/v1/queue", s.Token, "", 200)
	w.expect("DELETE", "/v1/leases/"+id, "", "", 204)
	w.expect("DELETE", "/v1/leases/"+id, "", "", 404)
}

func walkLicenses(w *walker, s *ushertest.Server) {
	text := string(s.Sign(usher.Grant{Feature: "extra", Seats: 1}))
	lic := w.expect("POST", "/v1/licenses", s.Token, text, 201)
	w.expect("POST", "/v1/licenses", s.Token, text, 409)
	w.expect("POST", "/v1/licenses", s.Token, "-----BEGIN USHER LICENSE-----\nnot a license\n", 422)
	w.expect("GET", "/v1/licenses", s.Token, "", 200)
	w.expect("GET", "/v1/licenses/"+str(lic, "id")+"/text", "", "", 200)
	w.expect("GET", "/v1/licenses/nope/text", "", "", 404)
	w.expect("DELETE", "/v1/licenses/"+str(lic, "id"), s.Token, "", 200)
	w.expect("DELETE", "/v1/licenses/"+str(lic, "id"), s.Token, "", 404)

	lic = w.expect("POST", "/v1/licenses", s.Token, string(s.Sign(usher.Grant{Feature: "moved", Seats: 1})), 201)
	w.expect("POST", "/v1/licenses/"+str(lic, "id")+"/release", s.Token, "", 200)
	w.expect("POST", "/v1/licenses/"+str(lic, "id")+"/release", s.Token, "", 404)
	w.expect("GET", "/v1/licenses", s.Token, "", 200)
}

func walkUsers(w *walker, admin string) {
	w.expect("POST", "/v1/users", admin, `{"username":"ann","password":"a long password","role":"monitor"}`, 201)
	w.expect("POST", "/v1/users", admin, `{"username":"ann","password":"a long password","role":"monitor"}`, 409)
	w.expect("POST", "/v1/users", admin, `{"username":"bob","password":"a long password","role":"nobody"}`, 400)
	w.expect("GET", "/v1/users", admin, "", 200)
	w.expect("PUT", "/v1/users/ann/password", admin, `{"password":"another long password"}`, 204)
	w.expect("PUT", "/v1/users/nobody/password", admin, `{"password":"another long password"}`, 404)
	w.expect("POST", "/v1/auth/login", "", `{"username":"ann","password":"wrong password"}`, 401)
	login := w.expect("POST", "/v1/auth/login", "", `{"username":"ann","password":"another long password"}`, 200)
	w.expect("GET", "/v1/users", str(login, "token"), "", 403)
	w.expect("PUT", "/v1/users/me/password", str(login, "token"), `{"old_password":"another long password","new_password":"a third long password"}`, 200)
	w.expect("DELETE", "/v1/users/ann", admin, "", 204)
	w.expect("DELETE", "/v1/users/ann", admin, "", 404)

	tok := w.expect("POST", "/v1/tokens", admin, `{"name":"ci","role":"monitor"}`, 201)
	w.expect("POST", "/v1/tokens", admin, `{"name":"ci","role":"monitor"}`, 409)
	w.expect("GET", "/v1/tokens", admin, "", 200)
	w.expect("DELETE", "/v1/tokens/"+str(tok, "id"), admin, "", 200)
	w.expect("DELETE", "/v1/tokens/"+str(tok, "id"), admin, "", 404)
}

func walkObservability(w *walker, admin string) {
	w.expect("GET", "/v1/events?limit=5", admin, "", 200)
	w.expect("GET", "/v1/events?since=yesterday", admin, "", 400)
	w.expect("GET", "/v1/usage", admin, "", 200)
	w.expect("GET", "/v1/usage?by=user", admin, "", 200)
	w.expect("GET", "/v1/report?from=1h&tz=%2B01:00", admin, "", 200)
	w.expect("GET", "/v1/report?tz=Nowhere/City", admin, "", 400)
	w.expect("GET", "/metrics", admin, "", 200)
	w.stream("/v1/events/stream", admin)
}

func walkAdmin(w *walker, admin string) {
	kicked := w.expect("POST", "/v1/admin/kick", admin, `{"user":"ann","ban":"1h"}`, 200)
	ban, _ := kicked["ban"].(map[string]any)
	w.expect("POST", "/v1/admin/kick", admin, `{"all":true,"ban":"1h"}`, 400)
	w.expect("GET", "/v1/admin/bans", admin, "", 200)
	w.expect("DELETE", "/v1/admin/bans/"+str(ban, "id"), admin, "", 200)
	w.expect("DELETE", "/v1/admin/bans/"+str(ban, "id"), admin, "", 404)
	w.expect("GET", "/v1/admin/info", admin, "", 200)
	w.expect("GET", "/v1/admin/settings", admin, "", 200)
	w.expect("PUT", "/v1/admin/settings", admin, `{"set":{"keepalive_timeout":"200s"}}`, 200)
	w.expect("PATCH", "/v1/admin/settings", admin, `{"reset":["keepalive_timeout"]}`, 200)
	w.expect("PUT", "/v1/admin/settings", admin, `{}`, 400)
	w.expect("POST", "/v1/admin/reload", admin, "", 200)
}

func walkPolicy(w *walker, admin string) {
	const policy = "[feature.cad]\nmax = { \"user:*\" = 1 }\n"
	check, _ := json.Marshal(map[string]string{"policy": policy, "since": "1h"})
	w.expect("GET", "/v1/policy", admin, "", 200)
	w.expect("POST", "/v1/policy/check", admin, string(check), 200)
	w.expect("POST", "/v1/policy/check", admin, `{"policy":"max = 1"}`, 400)
	w.expect("PUT", "/v1/policy", admin, policy, 200)
	w.expect("PUT", "/v1/policy", admin, "max = 1\n", 400)
}

func walkWebhooks(w *walker, admin string) {
	recv := ushertest.StartReceiver(w.t, "s", 0)
	hook := w.expect("POST", "/v1/webhooks", admin, `{"url":"`+recv.URL+`","events":["lease_*"],"secret":"s","mode":"all"}`, 201)
	w.expect("POST", "/v1/webhooks", admin, `{"url":"ftp://x"}`, 400)
	w.expect("GET", "/v1/webhooks", admin, "", 200)
	w.expect("POST", "/v1/leases", "", `{"feature":"cad","client":{"id":"hooked"}}`, 201)
	var delivery string
	ushertest.WaitFor(w.t, 10*time.Second, 20*time.Millisecond, ushertest.Until("a delivery", func() bool {
		deliveries, _ := w.expect("GET", "/v1/webhooks/"+str(hook, "id")+"/deliveries?limit=5", admin, "", 200)["deliveries"].([]any)
		if len(deliveries) > 0 {
			delivery = str(deliveries[0].(map[string]any), "id")
		}
		return delivery != ""
	}))
	w.expect("GET", "/v1/webhooks/nope/deliveries", admin, "", 404)
	w.expect("GET", "/v1/webhooks/"+str(hook, "id")+"/deliveries?limit=0", admin, "", 400)
	w.expect("POST", "/v1/webhooks/deliveries/"+delivery+"/redeliver", admin, "", 202)
	w.expect("POST", "/v1/webhooks/deliveries/nope/redeliver", admin, "", 404)
	w.expect("DELETE", "/v1/webhooks/"+str(hook, "id"), admin, "", 204)
	w.expect("DELETE", "/v1/webhooks/"+str(hook, "id"), admin, "", 404)
}
