package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestCheckoutHeartbeatRelease(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 2})
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, OnEvent: ev.Record})
	ctx := context.Background()

	lease, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lease.Feature(), "cad"; got != want {
		t.Errorf("Feature() = %q, want %q", got, want)
	}
	if got, want := lease.Server(), s.URL(); got != want {
		t.Errorf("Server() = %q, want %q", got, want)
	}
	// The lease outlives several keep-alive timeouts only if it heartbeats.
	first, err := s.Ledger().Lease(lease.ID())
	if err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("three heartbeats", func() bool {
		ls, err := s.Ledger().Lease(lease.ID())
		return err == nil && ls.LastHeartbeat.Sub(first.LastHeartbeat) > 2500*time.Millisecond
	}))
	select {
	case <-lease.Done():
		t.Fatalf("lease ended: %v", lease.Err())
	default:
	}
	if err := lease.Err(); err != nil {
		t.Fatalf("Err() = %v while held", err)
	}

	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	<-lease.Done()
	if err := lease.Err(); !errors.Is(err, client.ErrReleased) {
		t.Errorf("Err() = %v, want ErrReleased", err)
	}
	if n := len(s.Ledger().Leases()); n != 0 {
		t.Errorf("server holds %d leases after Release, want 0", n)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("second Release = %v, want nil", err)
	}
	if got := ev.Types(); len(got) != 2 || got[0] != client.EventCheckedOut || got[1] != client.EventReleased {
		t.Errorf("events = %v, want [checked_out released]", got)
	}
}

func TestCheckoutErrors(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	ctx := context.Background()
	a := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "a"})
	b := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "b"})
	if _, err := a.Checkout(ctx, "cad"); err != nil {
		t.Fatal(err)
	}

	_, err := b.Checkout(ctx, "cad")
	if !errors.Is(err, usher.ErrNoSeats) {
		t.Fatalf("second checkout = %v, want ErrNoSeats", err)
	}
	if !strings.Contains(err.Error(), "try again later") {
		t.Errorf("message %q does not say what to do", err)
	}
	if _, err := b.Checkout(ctx, "nope"); !errors.Is(err, usher.ErrFeatureNotFound) {
		t.Errorf("unknown feature = %v, want ErrFeatureNotFound", err)
	}
	if _, err := a.Checkout(ctx, "cad"); !errors.Is(err, usher.ErrInvalid) {
		t.Errorf("checkout of a held feature = %v, want ErrInvalid", err)
	}
	if _, err := b.Checkout(ctx, "cad", client.Wait(2*time.Hour)); !errors.Is(err, usher.ErrInvalid) {
		t.Errorf("wait above the maximum = %v, want ErrInvalid", err)
	}
	start := time.Now()
	if _, err := b.Checkout(ctx, "cad", client.Wait(200*time.Millisecond)); !errors.Is(err, usher.ErrNoSeats) {
		t.Errorf("wait without a free seat = %v, want ErrNoSeats", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("checkout returned after %s, before its wait ran out", d)
	}
}

// Two clients with one identity are one instance to the server: a retried
// checkout gets the lease already held, never a second seat.
func TestSameIdentitySameSeat(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 5})
	ctx := context.Background()
	a := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "same"})
	b := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "same"})
	la, err := a.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	if la.ID() != lb.ID() {
		t.Errorf("lease IDs %s and %s differ, want one lease", la.ID(), lb.ID())
	}
	if n := len(s.Ledger().Leases()); n != 1 {
		t.Errorf("server holds %d leases, want 1", n)
	}
}

// A checkout whose reply is lost is retried, and the retry gets the lease
// the first request took, not a second seat.
func TestRetriedCheckoutTakesNoSecondSeat(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 5})
	p := MustStartProxy(t, s.Addr())
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{p.Addr()}, OnEvent: ev.Record})
	p.DropReplies(1)
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Has(client.EventUnreachable) {
		t.Errorf("events = %v, want a failed first try", ev.Types())
	}
	held := s.LeasesOf(c.ClientID())
	if len(held) != 1 || held[0].ID != lease.ID() {
		t.Errorf("server holds %v, want only %s", sortedIDs(held), lease.ID())
	}
}

func TestDefaultIdentity(t *testing.T) {
	opts := client.Options{Servers: []string{"127.0.0.1:1"}}
	a, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.ClientID() == "" || a.ClientID() != b.ClientID() {
		t.Errorf("client IDs %q and %q, want one stable non-empty ID", a.ClientID(), b.ClientID())
	}
	opts.ClientID = "mine"
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.ClientID(), "mine"; got != want {
		t.Errorf("ClientID() = %q, want %q", got, want)
	}
}

func TestServersFromEnvironment(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	env := map[string]string{client.EnvServer: "127.0.0.1:1, " + s.URL() + "/"}
	var ev Events
	c := MustNew(t, client.Options{Getenv: func(k string) string { return env[k] }, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lease.Server(), s.URL(); got != want {
		t.Errorf("Server() = %q, want %q (the first server refuses connections)", got, want)
	}
	want := []client.EventType{client.EventUnreachable, client.EventFailover, client.EventCheckedOut}
	if got := ev.Types(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestNoServerConfigured(t *testing.T) {
	_, err := client.New(client.Options{Getenv: func(string) string { return "" }, NoDiscovery: true})
	if !errors.Is(err, usher.ErrInvalid) || !strings.Contains(err.Error(), client.EnvServer) {
		t.Errorf("New without servers or discovery = %v, want ErrInvalid naming %s", err, client.EnvServer)
	}
	_, err = client.New(client.Options{Servers: []string{"ftp://x"}})
	if !errors.Is(err, usher.ErrInvalid) {
		t.Errorf("New with a bad address = %v, want ErrInvalid", err)
	}
}

type staticResolver []string

func (r staticResolver) Resolve(context.Context) ([]string, error) { return r, nil }

func TestResolver(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	c := MustNew(t, client.Options{Getenv: func(string) string { return "" }, Resolver: staticResolver{s.Addr()}})
	if _, err := c.Checkout(context.Background(), "cad"); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableCheckout(t *testing.T) {
	c := MustNew(t, client.Options{Servers: []string{"127.0.0.1:1"}, RetryTimeout: 300 * time.Millisecond})
	_, err := c.Checkout(context.Background(), "cad")
	if !errors.Is(err, usher.ErrUnavailable) || !strings.Contains(err.Error(), client.EnvServer) {
		t.Errorf("checkout without a server = %v, want ErrUnavailable naming %s", err, client.EnvServer)
	}
}

// Close releases every lease, and a checkout waiting in line gives up.
func TestCloseReleasesEverything(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1, "cam": 1})
	ctx := context.Background()
	c, err := client.New(client.Options{Servers: []string{s.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkout(ctx, "cam"); err != nil {
		t.Fatal(err)
	}
	other := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "other"})
	waited := make(chan error, 1)
	go func() {
		_, err := other.Checkout(ctx, "cad", client.Wait(time.Minute))
		waited <- err
	}()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the waiter to queue", func() bool { return len(s.Ledger().Waiters()) == 1 }))

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("waiter: %v, want the seat Close released", err)
	}
	if !errors.Is(l1.Err(), client.ErrReleased) {
		t.Errorf("Err() after Close = %v, want ErrReleased", l1.Err())
	}
	if got := s.LeasesOf(c.ClientID()); len(got) != 0 {
		t.Errorf("server still holds %v after Close", sortedIDs(got))
	}
	if _, err := c.Checkout(ctx, "cad"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("checkout after Close = %v, want ErrClosed", err)
	}

	// A checkout waiting when its client closes returns ErrClosed.
	third, err := client.New(client.Options{Servers: []string{s.Addr()}, ClientID: "third"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := third.Checkout(ctx, "cad", client.Wait(time.Minute))
		waited <- err
	}()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the third client to queue", func() bool { return len(s.Ledger().Waiters()) == 1 }))
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, client.ErrClosed) {
		t.Errorf("waiting checkout after Close = %v, want ErrClosed", err)
	}
}
