package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestEventsFollowAcrossRestart follows the event stream while the server
// restarts on the same data directory and port: the follower reconnects,
// says so once each way on stderr, and prints every stored event exactly
// once.
func TestEventsFollowAcrossRestart(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs ushertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json", "--server", srv.URL(), "--token", srv.Token},
			&env{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }})
	}()
	printed := func(what string) func() error {
		return ushertest.Until("stdout to show "+what, func() bool { return strings.Contains(out.String(), what) })
	}
	said := func(what string) func() error {
		return ushertest.Until("stderr to say "+what, func() bool { return strings.Contains(errs.String(), what) })
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, printed("server_started"))
	api := apiclient.MustNew(srv.URL(), "")
	checkout := func(id string) {
		t.Helper()
		if _, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id}}); err != nil {
			t.Fatal(err)
		}
		ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, printed(`"id":"`+id+`"`))
	}
	checkout("before-restart")
	srv.Close()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, said("lost the server"))
	srv.Start()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, said("is back"))
	checkout("after-restart")

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("events --follow exit %d after interrupt, want 0: %s", code, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not stop within 10s")
	}
	for _, s := range []string{"lost the server", "is back"} {
		if n := strings.Count(errs.String(), s); n != 1 {
			t.Errorf("stderr says %q %d times, want once:\n%s", s, n, errs.String())
		}
	}
	got, want := printedIDs(t, out.String()), storedIDs(t, srv)
	if !slices.Equal(got, want) {
		t.Errorf("printed event ids %v, want the stored ones %v, each once", got, want)
	}
}

// TestEventsFollowMissesNothingAfterAnEmptyQuery follows a type of which
// nothing is stored yet, through a proxy that stores such an event just
// after the server answered the stored query and before the command goes
// on: the event falls between the query and whatever follows it, and must
// be printed, once.
func TestEventsFollowMissesNothingAfterAnEmptyQuery(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := apiclient.MustNew(srv.URL(), "")
	var once sync.Once
	proxy := startProxy(t, srv.URL(), func(r *http.Request) {
		if r.URL.Path != wire.PathEvents {
			return
		}
		once.Do(func() {
			if _, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: "between"}}); err != nil {
				t.Error(err) // not Fatal: this is the proxy's goroutine
				return
			}
			// The event is stored once a query sees it (a query first
			// waits for the events recorded before it).
			recs, err := srv.Admin().Events(ctx, wire.EventsQuery{Type: "lease_granted"})
			if err != nil || len(recs) != 1 {
				t.Errorf("stored lease_granted events: got %d (%v), want 1", len(recs), err)
			}
		})
	})
	var out, errs ushertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json", "--type", "lease_granted", "--server", proxy, "--token", srv.Token},
			&env{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }})
	}()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond,
		ushertest.Until("stdout to show the lease granted between the query and the stream", func() bool {
			return strings.Contains(out.String(), `"id":"between"`)
		}))
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("events --follow exit %d after interrupt, want 0: %s", code, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not stop within 10s")
	}
	if n := strings.Count(out.String(), `"id":"between"`); n != 1 {
		t.Errorf("the lease granted between query and stream printed %d times, want once:\n%s", n, out.String())
	}
}

// startProxy starts a reverse proxy to target on loopback, closed when the
// test ends, that calls after once the target answered a request and
// before passing the answer on. It returns the proxy's URL.
func startProxy(t *testing.T, target string, after func(*http.Request)) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		after(resp.Request)
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)
	return ps.URL
}

// printedIDs returns the ids of the events printed as JSON lines.
func printedIDs(t *testing.T, out string) []int64 {
	t.Helper()
	var ids []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct{ ID int64 }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}

// storedIDs returns the ids of every stored event, oldest first.
func storedIDs(t *testing.T, srv *ushertest.Server) []int64 {
	t.Helper()
	recs, err := srv.Admin().Events(context.Background(), wire.EventsQuery{Since: "1h", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}
