package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/ushertest"
)

// assertHeld fails if the lease ended.
func assertHeld(t *testing.T, l *client.Lease) {
	t.Helper()
	select {
	case <-l.Done():
		t.Fatalf("lease ended: %v", l.Err())
	default:
	}
}

// waitDone waits for a lease to end and returns why.
func waitDone(t *testing.T, l *client.Lease, timeout time.Duration) error {
	t.Helper()
	select {
	case <-l.Done():
		return l.Err()
	case <-time.After(timeout):
		t.Fatalf("lease still held after %s", timeout)
		return nil
	}
}

// Rung 1: a network outage shorter than the keep-alive timeout is retried
// away, and the lease is kept.
func TestTransientOutageKeepsLease(t *testing.T) {
	s := MustStartServer(t, 2*time.Second, map[string]int{"cad": 1})
	p := MustStartProxy(t, s.Addr())
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{p.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	id := lease.ID()

	p.SetDown(true)
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("a failed heartbeat", func() bool { return ev.Count(client.EventUnreachable) >= 2 }))
	p.SetDown(false)
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the server to answer again", func() bool { return ev.Has(client.EventReconnected) }))

	assertHeld(t, lease)
	if got := lease.ID(); got != id {
		t.Errorf("lease ID changed from %s to %s", id, got)
	}
	if ev.Has(client.EventLeaseGone) || ev.Has(client.EventLost) {
		t.Errorf("events = %v, want only retries", ev.Types())
	}
}

// Rung 1, past its end: when no server answers until the lease expires,
// the seat is reported lost.
func TestOutageLongerThanLeaseLosesSeat(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	p := MustStartProxy(t, s.Addr())
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{p.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	p.SetDown(true)
	err = waitDone(t, lease, 5*time.Second)
	if !errors.Is(err, usher.ErrUnavailable) {
		t.Errorf("Err() = %v, want ErrUnavailable", err)
	}
	if !ev.Has(client.EventLost) {
		t.Errorf("events = %v, want lost", ev.Types())
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Errorf("Release of a lost lease = %v, want nil", err)
	}
}

// Rung 2: a restarted server still holds the lease, and the client keeps
// heartbeating the same ID.
func TestServerRestartKeepsLeaseID(t *testing.T) {
	s := MustStartServer(t, 2*time.Second, map[string]int{"cad": 1})
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	id := lease.ID()

	s.Close()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("a failed heartbeat", func() bool { return ev.Has(client.EventUnreachable) }))
	s.Start()
	restarted := s.clock.Now()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("a heartbeat on the restarted server", func() bool {
		ls, err := s.Ledger().Lease(id)
		return err == nil && ls.LastHeartbeat.After(restarted)
	}))
	assertHeld(t, lease)
	if got := lease.ID(); got != id {
		t.Errorf("lease ID changed from %s to %s", id, got)
	}
	if ev.Has(client.EventLeaseGone) {
		t.Errorf("events = %v, want the same lease kept", ev.Types())
	}
}

// Rung 3: a kicked lease is checked out again transparently.
func TestKickedLeaseIsReacquired(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	old := lease.ID()
	if err := s.Ledger().Release(context.Background(), old, usher.Owner{}, true); err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the seat to be checked out again", func() bool { return ev.Has(client.EventReacquired) }))
	assertHeld(t, lease)
	held := s.LeasesOf(c.ClientID())
	if len(held) != 1 || held[0].ID != lease.ID() || held[0].ID == old {
		t.Errorf("server holds %v, want one new lease %s (old %s)", sortedIDs(held), lease.ID(), old)
	}
}

// Rung 3, no seat free: a kicked lease whose seat went to a waiter is
// reported lost with ErrNoSeats.
func TestKickedLeaseLostWhenNoSeatFree(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	ctx := context.Background()
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "kicked"})
	lease, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	waiter := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "waiter"})
	got := make(chan error, 1)
	go func() {
		_, err := waiter.Checkout(ctx, "cad", client.Wait(10*time.Second))
		got <- err
	}()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the waiter to queue", func() bool { return len(s.Ledger().Waiters()) == 1 }))
	if err := s.Ledger().Release(ctx, lease.ID(), usher.Owner{}, true); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	err = waitDone(t, lease, 5*time.Second)
	if !errors.Is(err, usher.ErrNoSeats) {
		t.Errorf("Err() = %v, want ErrNoSeats", err)
	}
	if n := len(s.LeasesOf("kicked")); n != 0 {
		t.Errorf("kicked client holds %d leases, want 0", n)
	}
}

// Rung 3: a lease the server reclaimed (its keep-alive ran out on the
// server's clock) is checked out again.
func TestReclaimedLeaseIsReacquired(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"cad": 1})
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	old := lease.ID()
	s.clock.Advance(time.Minute)
	if _, err := s.Ledger().Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the seat to be checked out again", func() bool { return ev.Has(client.EventReacquired) }))
	assertHeld(t, lease)
	if lease.ID() == old {
		t.Errorf("lease ID still %s, want a new lease", old)
	}
	if _, err := s.Ledger().Lease(lease.ID()); err != nil {
		t.Errorf("server does not hold the new lease: %v", err)
	}
}

// Rung 4: with two servers, the client fails over to the one that answers
// and stays there once the first comes back.
func TestFailoverBetweenServers(t *testing.T) {
	a := MustStartServer(t, time.Second, map[string]int{"cad": 1, "cam": 1})
	b := MustStartServer(t, time.Second, map[string]int{"cad": 1, "cam": 1})
	pa := MustStartProxy(t, a.Addr())
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{pa.Addr(), b.Addr()}, OnEvent: ev.Record})
	ctx := context.Background()
	lease, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lease.Server(), "http://"+pa.Addr(); got != want {
		t.Fatalf("checked out from %s, want the first server %s", got, want)
	}

	pa.SetDown(true)
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until("the seat to move to the second server", func() bool { return ev.Has(client.EventReacquired) }))
	assertHeld(t, lease)
	if got, want := lease.Server(), b.URL(); got != want {
		t.Errorf("lease on %s, want %s", got, want)
	}
	if !ev.Has(client.EventFailover) {
		t.Errorf("events = %v, want a failover", ev.Types())
	}
	if n := len(b.LeasesOf(c.ClientID())); n != 1 {
		t.Errorf("second server holds %d leases of the client, want 1", n)
	}

	pa.SetDown(false)
	cam, err := c.Checkout(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cam.Server(), b.URL(); got != want {
		t.Errorf("next checkout went to %s, want the server in use %s", got, want)
	}
	if got, want := c.Server(), b.URL(); got != want {
		t.Errorf("Server() = %s, want %s", got, want)
	}
}

// Releasing a lease an administrator kicked before its next heartbeat says
// the lease was already gone, rather than that it was released.
func TestReleaseAfterKickSaysGone(t *testing.T) {
	s := MustStartServer(t, time.Hour, map[string]int{"cad": 1})
	var ev Events
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, OnEvent: ev.Record})
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ledger().Release(context.Background(), lease.ID(), usher.Owner{}, true); err != nil {
		t.Fatal(err)
	}
	err = lease.Release(context.Background())
	if !errors.Is(err, usher.ErrLeaseNotFound) || !strings.Contains(err.Error(), "kicked") {
		t.Errorf("Release after a kick = %v, want ErrLeaseNotFound saying it was kicked", err)
	}
	if ev.Has(client.EventReleased) {
		t.Errorf("events = %v, want no %s for a lease already gone", ev.Types(), client.EventReleased)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the kicked lease's release = %v, want nil", err)
	}
}
