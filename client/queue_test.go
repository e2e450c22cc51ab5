package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/ushertest"
)

type grant struct {
	waiter int
	lease  *client.Lease
	err    error
}

// Ten waiters in line for three seats are granted one by one as the seats
// are released, in the order they arrived, each once.
func TestQueueGrantsInArrivalOrder(t *testing.T) {
	const seats, waiters = 3, 10
	s := MustStartServer(t, 2*time.Second, map[string]int{"cad": seats})
	ctx := context.Background()
	var held []*client.Lease
	for i := range seats {
		c := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: fmt.Sprintf("holder-%d", i)})
		l, err := c.Checkout(ctx, "cad")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}

	granted := make(chan grant, waiters)
	for i := range waiters {
		c := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: fmt.Sprintf("waiter-%d", i)})
		go func() {
			l, err := c.Checkout(ctx, "cad", client.Wait(20*time.Second))
			granted <- grant{i, l, err}
		}()
		ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, ushertest.Until(fmt.Sprintf("waiter %d to queue", i), func() bool {
			ws := s.Ledger().Waiters()
			return len(ws) == i+1 && ws[i].Client.ID == c.ClientID()
		}))
	}

	seen := make(map[string]bool)
	for want := range waiters {
		if err := held[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
		held = held[1:]
		var g grant
		select {
		case g = <-granted:
		case <-time.After(5 * time.Second):
			t.Fatalf("no waiter granted after release %d", want)
		}
		if g.err != nil {
			t.Fatalf("waiter %d: %v", g.waiter, g.err)
		}
		if g.waiter != want {
			t.Fatalf("granted waiter %d, want %d (arrival order)", g.waiter, want)
		}
		if seen[g.lease.ID()] {
			t.Fatalf("lease %s granted twice", g.lease.ID())
		}
		seen[g.lease.ID()] = true
		held = append(held, g.lease)
		if n := len(s.Ledger().Leases()); n != seats {
			t.Fatalf("server holds %d leases, want %d", n, seats)
		}
	}
	select {
	case g := <-granted:
		t.Fatalf("waiter %d granted after the line was empty", g.waiter)
	default:
	}
	if ws := s.Ledger().Waiters(); len(ws) != 0 {
		t.Errorf("%d still waiting, want none", len(ws))
	}
}
