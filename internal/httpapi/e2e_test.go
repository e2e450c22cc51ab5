package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a whole Usher server in process on 127.0.0.1:0, its
// clock stopped at the start time.
type testServer struct {
	t     *testing.T
	srv   *ushertest.Server
	d     *daemon.Daemon
	url   string
	token string
	clock *ushertest.Clock
	admin *apiclient.Client
}

func startServer(t *testing.T, keepalive time.Duration) *testServer {
	t.Helper()
	clock := ushertest.NewClock(time.Now())
	srv := ushertest.StartServer(t, ushertest.ServerOptions{
		Configure: func(cfg *daemon.Config) {
			cfg.KeepaliveTimeout = daemon.Duration(keepalive)
			cfg.KeepaliveScanInterval = daemon.Duration(5 * time.Millisecond)
		},
		Daemon: daemon.Options{Now: clock.Now},
	})
	return &testServer{t: t, srv: srv, d: srv.Daemon, url: srv.URL(), token: srv.Token, clock: clock, admin: srv.Admin()}
}

func (s *testServer) sign(grants ...usher.Grant) []byte {
	s.t.Helper()
	return s.srv.Sign(grants...)
}

func (s *testServer) addLicense(grants ...usher.Grant) wire.LicenseResponse {
	s.t.Helper()
	lic, err := s.admin.AddLicense(context.Background(), s.sign(grants...))
	if err != nil {
		s.t.Fatalf("add license: %v", err)
	}
	return lic
}

// call sends a raw request and returns the status and decoded JSON body.
func (s *testServer) call(method, path, token, body string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			s.t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
		}
	}
	return resp.StatusCode, out
}

func checkoutBody(feature, client string) string {
	return fmt.Sprintf(`{"feature":%q,"client":{"id":%q,"user":"alice","host":"ws12","pid":4242}}`, feature, client)
}

func TestCheckoutHeartbeatRelease(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 5})
	status, lease := s.call("POST", "/v1/leases", "", checkoutBody("cad", "c1"))
	if status != http.StatusCreated {
		t.Fatalf("checkout status %d, want 201: %v", status, lease)
	}
	if lease["heartbeat_interval"] != "60s" || lease["feature"] != "cad" || lease["id"] == "" {
		t.Fatalf("checkout body %v", lease)
	}
	if c := lease["client"].(map[string]any); c["user"] != "alice" || c["host"] != "ws12" || c["pid"] != 4242.0 {
		t.Fatalf("client in lease %v", c)
	}
	status, again := s.call("POST", "/v1/leases", "", checkoutBody("cad", "c1"))
	if status != http.StatusOK || again["id"] != lease["id"] {
		t.Fatalf("repeated checkout: status %d id %v, want 200 and %v", status, again["id"], lease["id"])
	}
	id := lease["id"].(string)
	if status, hb := s.call("POST", "/v1/leases/"+id+"/heartbeat", "", ""); status != http.StatusOK || hb["expires_at"] == nil {
		t.Fatalf("heartbeat: %d %v", status, hb)
	}
	if status, _ := s.call("DELETE", "/v1/leases/"+id, "", ""); status != http.StatusNoContent {
		t.Fatalf("release status %d, want 204", status)
	}
	if status, body := s.call("POST", "/v1/leases/"+id+"/heartbeat", "", ""); status != http.StatusNotFound || body["code"] != usher.ELeaseNotFound {
		t.Fatalf("heartbeat after release: %d %v", status, body)
	}
	if status, body := s.call("DELETE", "/v1/leases/"+id, "", ""); status != http.StatusNotFound || body["code"] != usher.ELeaseNotFound {
		t.Fatalf("second release: %d %v", status, body)
	}
}

func TestConcurrentCheckoutsGrantExactlyTheSeats(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 8})
	var wg sync.WaitGroup
	statuses := make(chan int, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(s.url+"/v1/leases", "application/json", strings.NewReader(checkoutBody("cad", fmt.Sprint("client-", i))))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusCreated] != 8 || count[http.StatusConflict] != 56 {
		t.Fatalf("statuses %v, want 8 x 201 and 56 x 409", count)
	}
	leases, err := s.admin.Leases(context.Background())
	if err != nil || len(leases) != 8 {
		t.Fatalf("leases: %d, %v; want 8", len(leases), err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestTamperedLicenseIsRefused(t *testing.T) {
	s := startServer(t, 180*time.Second)
	text := s.sign(usher.Grant{Feature: "cad", Seats: 5})
	bad := bytes.Replace(text, []byte("seats=5"), []byte("seats=500"), 1)
	status, body := s.call("POST", "/v1/licenses", s.token, string(bad))
	if status != http.StatusUnprocessableEntity || body["code"] != usher.ELicenseInvalid {
		t.Fatalf("tampered license: %d %v, want 422 %s", status, body, usher.ELicenseInvalid)
	}
	if msg := body["message"].(string); !strings.Contains(msg, "signature does not match") {
		t.Fatalf("message %q does not say the signature does not match", msg)
	}
	if f, _ := s.admin.Features(context.Background()); len(f) != 0 {
		t.Fatalf("a refused license changed the features: %v", f)
	}
	if status, _ := s.call("POST", "/v1/licenses", s.token, string(text)); status != http.StatusCreated {
		t.Fatalf("intact license: status %d, want 201", status)
	}
	if status, body := s.call("POST", "/v1/licenses", s.token, string(text)); status != http.StatusConflict || body["code"] != usher.ELicenseExists {
		t.Fatalf("same license again: %d %v", status, body)
	}
}

func TestAdminEndpointsNeedTheToken(t *testing.T) {
	s := startServer(t, 180*time.Second)
	lic := s.addLicense(usher.Grant{Feature: "cad", Seats: 5})
	for _, ep := range []struct{ method, path, body string }{
		{"GET", "/v1/leases", ""},
		{"GET", "/v1/licenses", ""},
		{"GET", "/v1/queue", ""},
		{"POST", "/v1/licenses", string(s.sign(usher.Grant{Feature: "x", Seats: 1}))},
		{"DELETE", "/v1/licenses/" + lic.ID, ""},
	} {
		for _, tok := range []string{"", "wrong-token"} {
			status, body := s.call(ep.method, ep.path, tok, ep.body)
			if status != http.StatusUnauthorized || body["code"] != usher.EUnauthorized || body["status"] != 401.0 {
				t.Errorf("%s %s with token %q: %d %v, want 401 unauthorized", ep.method, ep.path, tok, status, body)
			}
		}
	}
	if lics, err := s.admin.Licenses(context.Background()); err != nil || len(lics) != 1 {
		t.Fatalf("refused admin calls changed the licenses: %v %v", lics, err)
	}
	if status, _ := s.call("GET", "/v1/features", "", ""); status != http.StatusOK {
		t.Fatalf("features without token: %d, want 200", status)
	}
	if status, _ := s.call("GET", "/healthz", "", ""); status != http.StatusOK {
		t.Fatalf("healthz: %d, want 200", status)
	}
}

func TestHeartbeatKeepsLeaseAliveAndSilenceReclaims(t *testing.T) {
	s := startServer(t, 5*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 2})
	ctx := context.Background()
	live, _, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "live"}})
	if err != nil {
		t.Fatal(err)
	}
	silent, _, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "silent"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.clock.Advance(3 * time.Second)
		if _, err := s.admin.Heartbeat(ctx, live.ID); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	ushertest.WaitFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		leases, err := s.admin.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) != 1 || leases[0].ID != live.ID {
			return fmt.Errorf("silent lease %s not reclaimed: %v", silent.ID, leases)
		}
		return nil
	})
	if _, err := s.admin.Heartbeat(ctx, silent.ID); usher.ErrorCode(err) != usher.ELeaseNotFound {
		t.Fatalf("heartbeat of reclaimed lease: %v, want %s", err, usher.ELeaseNotFound)
	}
}

func TestBadRequestsGetJSONErrors(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 1}, usher.Grant{Feature: "old", Seats: 1, ExpiresAt: time.Now().Add(-time.Hour)})
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/leases", "{", 400, usher.EInvalid},
		{"POST", "/v1/leases", "", 400, usher.EInvalid},
		{"POST", "/v1/leases", `{"feature":"cad","client":{}}`, 400, usher.EInvalid},
		{"POST", "/v1/leases", `{"feature":"cad","client":{"id":"a"},"wait":"soon"}`, 400, usher.EInvalid},
		{"POST", "/v1/leases", checkoutBody("nope", "a"), 404, usher.EFeatureNotFound},
		{"POST", "/v1/leases", checkoutBody("old", "a"), 403, usher.EFeatureExpired},
		{"POST", "/v1/leases/ls_missing/heartbeat", "", 404, usher.ELeaseNotFound},
		{"GET", "/v1/nothing", "", 404, wire.ENotFound},
		{"DELETE", "/v1/licenses/lic_missing", "", 404, usher.ELicenseNotFound},
		{"POST", "/v1/licenses", "not a license", 422, usher.ELicenseInvalid},
	} {
		status, body := s.call(tc.method, tc.path, s.token, tc.body)
		if status != tc.status || body["code"] != tc.code || body["status"] != float64(tc.status) || body["message"] == "" {
			t.Errorf("%s %s %q: %d %v, want %d %s", tc.method, tc.path, tc.body, status, body, tc.status, tc.code)
		}
	}
	if f, _ := s.admin.Features(context.Background()); f[0].InUse != 0 {
		t.Fatalf("bad requests took seats: %+v", f)
	}
}

func TestWaitingCheckoutIsGrantedWhenASeatFrees(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 1})
	ctx := context.Background()
	held, _, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, created, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b"}, Wait: "30s"})
		if err == nil && !created {
			err = fmt.Errorf("waiter got status 200, want 201")
		}
		got <- err
	}()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		q, err := s.admin.Queue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 1 {
			return fmt.Errorf("waiter never joined the line: queue %v", q)
		}
		return nil
	})
	if err := s.admin.Release(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

func TestWrongMethodIs405(t *testing.T) {
	s := startServer(t, 180*time.Second)
	status, body := s.call("PUT", "/v1/leases", "", "")
	if status != http.StatusMethodNotAllowed || body["code"] != wire.EMethodNotAllowed {
		t.Fatalf("PUT /v1/leases: %d %v, want 405", status, body)
	}
	if msg, _ := body["message"].(string); !strings.Contains(msg, "allows GET and POST") {
		t.Errorf("PUT /v1/leases: message %q, want the methods it allows", msg)
	}
	// One segment short of a route: the message names the route, not the
	// methods the shorter path happens to allow.
	status, body = s.call("POST", "/v1/leases/heartbeat", "", "")
	want := "the path needs {id}: POST /v1/leases/{id}/heartbeat"
	if msg, _ := body["message"].(string); status != http.StatusMethodNotAllowed || !strings.Contains(msg, want) || strings.Contains(msg, "DELETE") {
		t.Errorf("POST /v1/leases/heartbeat: %d %v, want 405 saying %q", status, body, want)
	}
}

func TestWaiterIsToldWhenTheServerStops(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 1})
	ctx := context.Background()
	if _, _, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, _, err := s.admin.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b"}, Wait: "60s"})
		got <- err
	}()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		if len(s.d.Ledger().Waiters()) == 0 {
			return errors.New("waiter never joined the line")
		}
		return nil
	})
	s.d.Close()
	if err := <-got; usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("waiter during shutdown got %v, want %s", err, usher.EUnavailable)
	}
}
