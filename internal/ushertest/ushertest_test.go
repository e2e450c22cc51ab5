package ushertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestMain checks for leaked goroutines, ignoring those etcd leaves.
func TestMain(m *testing.M) { etcdtest.VerifyNoLeaks(m) }

func TestStoppedClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := ushertest.NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	c.Advance(time.Minute)
	if got, want := c.Now(), t0.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after Advance: Now = %v, want %v", got, want)
	}
	c.Set(t0.Add(-time.Hour))
	if got, want := c.Now(), t0.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("after Set: Now = %v, want %v", got, want)
	}
}

func TestRunningClock(t *testing.T) {
	c := ushertest.NewRunningClock()
	c.Advance(time.Hour)
	if d := time.Until(c.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("running clock advanced an hour is %v ahead, want about an hour", d)
	}
	target := time.Now().Add(-24 * time.Hour)
	c.Set(target)
	if d := c.Now().Sub(target); d < 0 || d > time.Minute {
		t.Fatalf("after Set: %v from the target, want just past it", d)
	}
}

// recorder is a testing.TB that records a fatal failure instead of
// stopping the test, to see WaitFor fail.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
}

func TestWaitFor(t *testing.T) {
	n := 0
	ushertest.WaitFor(t, 5*time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return fmt.Errorf("call %d, want 3", n)
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("WaitFor stopped after %d calls, want 3", n)
	}
	r := &recorder{TB: t}
	ushertest.WaitFor(r, 20*time.Millisecond, time.Millisecond, func() error { return errors.New("never ready") })
	if !strings.Contains(r.failed, "never ready") {
		t.Fatalf("WaitFor on a condition that never holds reported %q, want the last error", r.failed)
	}
}

func TestUntil(t *testing.T) {
	ready := false
	fn := ushertest.Until("the flag", func() bool { return ready })
	if err := fn(); err == nil || !strings.Contains(err.Error(), "the flag") {
		t.Fatalf("before the condition holds: got %v, want an error naming what is awaited", err)
	}
	ready = true
	if err := fn(); err != nil {
		t.Fatalf("once the condition holds: got %v, want nil", err)
	}
}

func TestBuffer(t *testing.T) {
	var b ushertest.Buffer
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { fmt.Fprintf(&b, "%d\n", i) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "\n"); got != 10 {
		t.Fatalf("%d lines, want 10", got)
	}
}

func TestServerRestartKeepsAddressAndLeases(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 2}})
	ctx := context.Background()
	l, _, err := s.Ledger().Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address after restart %s, want %s", s.Addr(), addr)
	}
	leases, err := s.Admin().Leases(ctx)
	if err != nil || len(leases) != 1 || leases[0].ID != l.ID {
		t.Fatalf("leases after restart: got %v, %v; want only %s", leases, err, l.ID)
	}
}

func TestDevServer(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	fs, err := s.Admin().Features(context.Background())
	if err != nil || len(fs) != 1 {
		t.Fatalf("features of a dev server: got %v, %v; want the demo feature", fs, err)
	}
}

func TestClusterOfOneRestarts(t *testing.T) {
	c := ushertest.StartCluster(t, 1)
	if dec := c.MustDecider(); dec != 0 {
		t.Fatalf("decider %d, want 0", dec)
	}
	c.AddLicense(0, "cad", 1)
	c.Kill(0)
	if d := c.Daemon(0); d != nil {
		t.Fatalf("node 0 after Kill: got a daemon, want nil")
	}
	if err := c.Start(0); err != nil {
		t.Fatal(err)
	}
	c.MustDecider()
	var fs []usher.FeatureStatus
	err := ushertest.RetryUnavailable(10*time.Second, func() (err error) {
		fs, err = c.Client(0).Features(context.Background())
		return err
	})
	if err != nil || len(fs) != 1 || fs[0].Name != "cad" {
		t.Fatalf("features after a restart: got %+v, %v; want the license's cad", fs, err)
	}
}
