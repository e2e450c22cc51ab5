package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// deadServer returns the URL of an address where nothing listens: a
// listener's, closed.
func deadServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// codeServer answers every request with an Usher error of code and
// status, and counts the requests.
func codeServer(t *testing.T, status int, code string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%q,"message":"answered by the test","status":%d}`, code, status)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestDoFailsOverToTheServerThatAnswers(t *testing.T) {
	live := MustStartServer(t, time.Minute, map[string]int{"cad": 1})
	busy, busyHits := codeServer(t, http.StatusServiceUnavailable, usher.EUnavailable)
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{deadServer(t), busy.URL, live.URL()}, Token: live.Token, OnEvent: ev.Record})
	ctx := context.Background()

	info := doInfo(t, c)
	if info["started_at"] == nil || c.Server() != live.URL() {
		t.Errorf("got info %v from %s, want it from %s", info, c.Server(), live.URL())
	}
	if got := busyHits.Load(); got != 1 {
		t.Errorf("the unavailable server was asked %d times, want 1", got)
	}
	if got, want := ev.Count(client.EventUnreachable), 2; got != want {
		t.Errorf("unreachable events: got %d, want %d (%v)", got, want, ev.Types())
	}
	if !ev.Has(client.EventFailover) {
		t.Errorf("events %v lack a failover", ev.Types())
	}

	// The next call starts with the server that answered.
	resp, err := c.Do(ctx, client.Request{Path: "/v1/leases"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := busyHits.Load(); got != 1 {
		t.Errorf("after a failover the unavailable server was asked again (%d requests)", got)
	}
}

func doInfo(t *testing.T, c *client.Client) map[string]any {
	t.Helper()
	resp, err := c.Do(context.Background(), client.Request{Path: "/v1/admin/info"})
	if err != nil {
		t.Fatalf("admin info: %v", err)
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestDoDoesNotRetryAClientError(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, usher.EInvalid},
		{http.StatusUnauthorized, usher.EUnauthorized},
		{http.StatusForbidden, usher.EForbidden},
		{http.StatusNotFound, usher.ELicenseNotFound},
		{http.StatusTooManyRequests, usher.ERateLimited},
	} {
		t.Run(tc.code, func(t *testing.T) {
			refusing, _ := codeServer(t, tc.status, tc.code)
			next, nextHits := codeServer(t, http.StatusOK, "")
			c := MustNew(t, client.Options{Servers: []string{refusing.URL, next.URL}})
			resp, err := c.Do(context.Background(), client.Request{Method: http.MethodDelete, Path: "/v1/licenses/x"})
			if resp != nil {
				resp.Body.Close()
			}
			if usher.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), "answered by the test") {
				t.Errorf("got %v, want the server's %s error", err, tc.code)
			}
			if got := nextHits.Load(); got != 0 {
				t.Errorf("the next server was asked %d times after a %d, want 0", got, tc.status)
			}
		})
	}
}

func TestDoReportsThatNoServerAnswered(t *testing.T) {
	a, b := deadServer(t), deadServer(t)
	c := MustNew(t, client.Options{Servers: []string{a, b}})
	_, err := c.Do(context.Background(), client.Request{Path: "/v1/features"})
	if usher.ErrorCode(err) != usher.EUnavailable || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Errorf("got %v, want unavailable naming %s and %s", err, a, b)
	}
}

func TestDoSendsTheRequestAsGiven(t *testing.T) {
	type seen struct{ method, path, contentType, auth, body string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body)}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c := MustNew(t, client.Options{Servers: []string{srv.URL}, Token: "secret"})
	for _, tc := range []struct {
		req  client.Request
		want seen
	}{
		{client.Request{Method: http.MethodPost, Path: "/v1/licenses", Body: []byte("text"), ContentType: "text/plain"},
			seen{"POST", "/v1/licenses", "text/plain", "Bearer secret", "text"}},
		{client.Request{Path: "/v1/events?limit=2"}, seen{"GET", "/v1/events?limit=2", "", "Bearer secret", ""}},
		{client.Request{Method: http.MethodPost, Path: "/v1/auth/login", Body: []byte(`{}`), Anonymous: true},
			seen{"POST", "/v1/auth/login", "application/json", "", "{}"}},
	} {
		resp, err := c.Do(context.Background(), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if s := <-got; s != tc.want || string(data) != "ok" {
			t.Errorf("sent %+v and read %q, want %+v and \"ok\"", s, data, tc.want)
		}
	}
}
