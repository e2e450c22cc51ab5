package daemon_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// relaySeatModel is the global rule of relays: seats granted through the
// master and every relay together never exceed the license. A refusal is
// always legal (a relay refuses while another relay's block holds idle
// seats), so only grants are checked.
func relaySeatModel(seats int) porcupine.Model { return seatCounter(seats, true) }

// relayNet is a master and two relays of it, each of which a nemesis
// kills and restarts.
type relayNet struct {
	servers []*ushertest.Server // master, relay 1, relay 2
}

func (n *relayNet) client(i int) *apiclient.Client {
	return apiclient.MustNew(n.servers[i].URL(), "")
}

// TestJepsenRelaysNeverOverAllocate runs clients that check out and
// release through a master and two relays of it, while a nemesis kills
// and restarts each of them, and checks that the seats granted everywhere
// together never exceeded the license.
func TestJepsenRelaysNeverOverAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a master and its relays for several seconds")
	}
	const seats, workers = 4, 8
	run := jepsenRun(8 * time.Second)
	master := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": seats}, Configure: func(c *daemon.Config) {
		c.KeepaliveTimeout = daemon.Duration(6 * time.Second)
		c.KeepaliveScanInterval = daemon.Duration(50 * time.Millisecond)
	}})
	rn := &relayNet{servers: []*ushertest.Server{master}}
	for range 2 {
		rn.servers = append(rn.servers, ushertest.StartServer(t, ushertest.ServerOptions{Configure: func(c *daemon.Config) {
			c.VendorKey = nil
			c.Upstream = []string{master.URL()}
			c.RelayIdle = daemon.Duration(time.Second)
			c.KeepaliveScanInterval = daemon.Duration(50 * time.Millisecond)
		}}))
	}

	h := &history{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { rn.worker(t, ctx, h, w) })
	}
	kills := rn.nemesis(t, ctx)
	wg.Wait()
	t.Logf("%d operations, %d kills", len(h.ops), kills)

	h.check(t, relaySeatModel(seats), fmt.Sprintf("grants more than %d seats through the master and its relays", seats))
}

// worker checks out through a server chosen at random and releases there,
// until ctx ends.
func (n *relayNet) worker(t *testing.T, ctx context.Context, h *history, w int) {
	clients := []*apiclient.Client{n.client(0), n.client(1), n.client(2)}
	bg := context.Background()
	for i := 0; ctx.Err() == nil && i < 2000; i++ {
		time.Sleep(time.Duration(10+rand.IntN(20)) * time.Millisecond) // pace: see jepsenWorker
		cl := clients[rand.IntN(len(clients))]
		k := 1 + i%2
		call := h.now()
		lease, _, err := cl.Checkout(bg, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprintf("w%d-%d", w, i)}, Count: k})
		switch {
		case err == nil:
			h.add(w, seatOp{opCheckout, k}, call, outOK)
		case usher.ErrorCode(err) == usher.ENoSeats || refusedForSure(err):
			h.add(w, seatOp{opCheckout, k}, call, outFull) // no change: the model allows a refusal
			continue
		default:
			h.add(w, seatOp{opCheckout, k}, call, outUnknown)
			continue
		}
		granted := h.now()
		time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond) // hold it: the seats run out
		n.release(t, h, w, cl, lease.ID, k, granted)
	}
}

// release gives a lease back, retrying while its server is down. A lease
// that ended meanwhile (its relay's block ended across a kill) freed its
// seats at some moment since it was granted.
func (n *relayNet) release(t *testing.T, h *history, w int, cl *apiclient.Client, id string, k int, granted int64) {
	bg := context.Background()
	call := h.now()
	deadline := time.Now().Add(opDeadline)
	for {
		err := cl.Release(bg, id)
		switch usher.ErrorCode(err) {
		case "":
			h.add(w, seatOp{opRelease, k}, call, outOK)
			return
		case usher.ELeaseNotFound:
			h.add(w, seatOp{opRelease, k}, granted, outOK)
			return
		}
		if time.Now().After(deadline) {
			h.add(w, seatOp{opRelease, k}, call, outUnknown)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nemesis kills the master or a relay, as kill -9 would, and restarts it
// on the same data and address, until ctx ends.
func (n *relayNet) nemesis(t *testing.T, ctx context.Context) int {
	kills := 0
	for kills < 20 {
		select {
		case <-ctx.Done():
			return kills
		case <-time.After(time.Duration(1000+rand.IntN(800)) * time.Millisecond):
		}
		victim := n.servers[kills%len(n.servers)]
		victim.Kill()
		kills++
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond):
		}
		victim.Start()
	}
	return kills
}

// refusedForSure reports whether a checkout that failed surely took no
// seat: its server was down, or the relay's ledger refused it because the
// upstream could not be reached. Anything else might have been granted.
func refusedForSure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "upstream of this relay refused")
}
