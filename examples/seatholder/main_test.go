package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestOutageIsTwoLines holds a seat while the server is down for several
// retries: the output says once that the server is lost and once that it
// is back, with the retries counted, instead of a line per retry.
func TestOutageIsTwoLines(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true, Configure: func(c *daemon.Config) {
		// A heartbeat every 2s, and 6s of outage before the seat is lost.
		c.KeepaliveTimeout, c.KeepaliveScanInterval = daemon.Duration(6*time.Second), daemon.Duration(time.Second)
	}})
	var out ushertest.Buffer
	logger := log.New(&out, "", 0)
	o := &outage{log: logger}
	c, err := client.New(client.Options{Servers: []string{srv.URL()}, OnEvent: o.report})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, daemon.DevFeature, 0, logger) }()
	says := func(what string) func() error {
		return func() error {
			if !strings.Contains(out.String(), what) {
				return fmt.Errorf("output %q lacks %q", out.String(), what)
			}
			return nil
		}
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, says("holding the seat"))
	srv.Close()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, says("lost the server"))
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.retries < 3 {
			return fmt.Errorf("%d retries so far, want 3", o.retries)
		}
		return nil
	})
	srv.Start()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, says("answers again after"))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Logf("output:\n%s", got)
	for _, line := range []string{"lost the server", "answers again after"} {
		if n := strings.Count(got, line); n != 1 {
			t.Errorf("output says %q %d times, want once:\n%s", line, n, got)
		}
	}
	if strings.Contains(got, "unreachable") || !strings.Contains(got, "retries\n") {
		t.Errorf("output has a line per retry, or no count of them:\n%s", got)
	}
}
