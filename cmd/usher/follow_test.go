package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	s := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	url, cfg := s.URL(), s.Config

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs ushertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json", "--server", url, "--data", cfg.Data},
			&env{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }})
	}()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the stored events", func() bool { return strings.Contains(out.String(), "server_started") }))
	api := apiclient.MustNew(url, "")
	checkout := func(id string) {
		t.Helper()
		if _, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id}}); err != nil {
			t.Fatal(err)
		}
		ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the grant to "+id, func() bool { return strings.Contains(out.String(), `"id":"`+id+`"`) }))
	}
	checkout("before-restart")

	if err := s.Daemon.Close(); err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the follower to say it lost the server", func() bool { return strings.Contains(errs.String(), "lost the server") }))
	s.Start()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the follower to say the server is back", func() bool { return strings.Contains(errs.String(), "is back") }))
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
	got, want := printedIDs(t, out.String()), storedIDs(t, url, cfg.Data)
	t.Logf("stderr:\n%s\nevents %v", errs.String(), got)
	if !slices.Equal(got, want) {
		t.Errorf("printed event ids %v, want the stored ones %v, each once", got, want)
	}
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
func storedIDs(t *testing.T, url, data string) []int64 {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(data, daemon.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := apiclient.MustNew(url, strings.TrimSpace(string(tok))).Events(context.Background(), wire.EventsQuery{Since: "1h", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}
