package daemon_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// Operations and outcomes of the seat-counter model.
const (
	opCheckout = iota
	opRelease
)

const (
	outOK      = iota // the change happened
	outFull           // checkout refused: every seat taken
	outUnknown        // no answer: it may or may not have happened
)

// seatOp checks out or releases seats seats at once (a multi-seat
// checkout, "count").
type seatOp struct{ kind, seats int }
type seatOut struct{ result int }

// seatModel is a pool of seats: a checkout of k seats takes them if k are
// free and is refused only when fewer are, a release frees its k.
func seatModel(seats int) porcupine.Model { return seatCounter(seats, false) }

// seatCounter is seatModel, where with anyRefusal a checkout may also be
// refused while seats are free.
func seatCounter(seats int, anyRefusal bool) porcupine.Model {
	m := porcupine.NondeterministicModel{
		Init: func() []any { return []any{0} },
		Step: func(state, input, output any) []any {
			n, in, out := state.(int), input.(seatOp), output.(seatOut)
			k := in.seats
			switch {
			case in.kind == opCheckout && out.result == outOK && n+k <= seats:
				return []any{n + k}
			case in.kind == opCheckout && out.result == outFull && (n+k > seats || anyRefusal):
				return []any{n}
			case in.kind == opCheckout && out.result == outUnknown:
				if n+k <= seats {
					return []any{n, n + k}
				}
				return []any{n}
			case in.kind == opRelease && out.result == outOK && n >= k:
				return []any{n - k}
			case in.kind == opRelease && out.result == outUnknown:
				if n >= k {
					return []any{n, n - k}
				}
				return []any{n}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			in := input.(seatOp)
			return fmt.Sprintf("%v %d -> %v", []string{"checkout", "release"}[in.kind], in.seats, []string{"ok", "full", "unknown"}[output.(seatOut).result])
		},
	}
	return m.ToModel()
}

// history records operations with a monotonic clock.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, op seatOp, call int64, result int) {
	ret := h.now()
	if result == outUnknown {
		ret = math.MaxInt64 // it may take effect at any later time
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: op, Call: call, Output: seatOut{result}, Return: ret})
	h.mu.Unlock()
}

// failoverClient tries the nodes in turn, as the SDK does with its server
// list, until one gives a definite answer or the time is up.
type failoverClient struct {
	nodes []*apiclient.Client
	next  int
}

const opDeadline = 8 * time.Second

// do calls fn on one node after another while the answer is "unavailable"
// (or no answer). attempts counts the calls made.
func (f *failoverClient) do(ctx context.Context, fn func(*apiclient.Client) error) (attempts int, err error) {
	deadline := time.Now().Add(opDeadline)
	for {
		attempts++
		err = fn(f.nodes[f.next])
		if usher.ErrorCode(err) != usher.EUnavailable && usher.ErrorCode(err) != usher.EInternal {
			return attempts, err
		}
		f.next = (f.next + 1) % len(f.nodes)
		if time.Now().After(deadline) || ctx.Err() != nil {
			return attempts, err
		}
		time.Sleep(20 * time.Millisecond) // back off before the next node
	}
}

// TestJepsenSeatsLinearizable runs clients that check out (one or two
// seats at once) and release through every node while a nemesis kills and
// restarts nodes, then checks the history against the seat-counter model
// and that every lease still held was kept.
func TestJepsenSeatsLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts cluster nodes for several seconds")
	}
	const seats, workers = 4, 6
	run := jepsenRun(10 * time.Second)
	c := mustStartCluster(t, 3)
	c.MustDecider()
	c.AddLicense(0, "cad", seats)

	h := &history{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	held := make([]wire.LeaseResponse, workers) // the lease each worker holds at the end
	for w := range workers {
		wg.Go(func() { held[w] = c.jepsenWorker(t, ctx, h, w) })
	}
	kills := c.nemesis(t, ctx)
	wg.Wait()
	t.Logf("%d operations, %d kills", len(h.ops), kills)

	h.check(t, seatModel(seats), fmt.Sprintf("is not linearizable against a pool of %d seats", seats))
	c.checkHeldLeases(t, held, seats)
}

// check checks the history against model, failing with what the history
// then is.
func (h *history) check(t *testing.T, model porcupine.Model, what string) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(model, h.ops, 60*time.Second)
	if res == porcupine.Illegal {
		path := t.TempDir() + "/history.html"
		_ = porcupine.VisualizePath(model, info, path)
		t.Fatalf("the history of %d operations %s (visualization: %s)", len(h.ops), what, path)
	}
	if res != porcupine.Ok {
		t.Errorf("linearizability check of %d operations: %s (the checker ran out of time: shorten USHER_JEPSEN_DURATION)", len(h.ops), res)
	}
}

// jepsenRun is how long a jepsen test runs: def, or USHER_JEPSEN_DURATION.
func jepsenRun(def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv("USHER_JEPSEN_DURATION")); err == nil && v > 0 {
		return v
	}
	return def
}

// jepsenWorker checks out and releases until ctx ends, then checks out
// once more and returns the lease it holds (no ID if none). Every other
// checkout asks for two seats at once.
func (c *testCluster) jepsenWorker(t *testing.T, ctx context.Context, h *history, w int) wire.LeaseResponse {
	f := &failoverClient{next: w % len(c.Configs)}
	for i := range c.Configs {
		cl := c.ClientWithin(i, 3*time.Second)
		f.nodes = append(f.nodes, cl)
	}
	bg := context.Background()
	for n := 0; n < 2000; n++ {
		// Pace the worker: a history of a few thousand operations is what
		// the checker can search within its time limit.
		time.Sleep(time.Duration(10+rand.IntN(20)) * time.Millisecond)
		last := ctx.Err() != nil
		call := h.now()
		k := 1 + n%2
		var lease wire.LeaseResponse
		_, err := f.do(bg, func(cl *apiclient.Client) (err error) {
			lease, _, err = cl.Checkout(bg, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprintf("w%d-%d", w, n)}, Count: k})
			return err
		})
		switch usher.ErrorCode(err) {
		case "":
			h.add(w, seatOp{opCheckout, k}, call, outOK)
		case usher.ENoSeats:
			h.add(w, seatOp{opCheckout, k}, call, outFull)
			if last {
				return wire.LeaseResponse{}
			}
			continue
		default:
			h.add(w, seatOp{opCheckout, k}, call, outUnknown)
			if last {
				return wire.LeaseResponse{}
			}
			continue
		}
		if last {
			return lease
		}
		call = h.now()
		attempts, err := f.do(bg, func(cl *apiclient.Client) error { return cl.Release(bg, lease.ID) })
		switch {
		case err == nil:
			h.add(w, seatOp{opRelease, k}, call, outOK)
		case usher.ErrorCode(err) == usher.ELeaseNotFound && attempts > 1:
			h.add(w, seatOp{opRelease, k}, call, outOK) // an earlier attempt released it
		case usher.ErrorCode(err) == usher.ELeaseNotFound:
			t.Errorf("acknowledged lease %s was lost: release answered %v", lease.ID, err)
			h.add(w, seatOp{opRelease, k}, call, outOK)
		default:
			h.add(w, seatOp{opRelease, k}, call, outUnknown)
		}
	}
	return wire.LeaseResponse{}
}

// nemesis kills a node (as kill -9 would) and restarts it, over
// and over until ctx ends; it returns how many kills it made.
func (c *testCluster) nemesis(t *testing.T, ctx context.Context) int {
	kills := 0
	for kills < 20 {
		select {
		case <-ctx.Done():
			return kills
		case <-time.After(time.Duration(1500+rand.IntN(1000)) * time.Millisecond):
		}
		victim := rand.IntN(len(c.Configs))
		if dec, err := c.Decider(0); err == nil && kills%2 == 0 {
			victim = dec // every other kill takes the deciding node
		}
		c.Kill(victim)
		kills++
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(500+rand.IntN(1000)) * time.Millisecond):
		}
		if err := c.Start(victim); err != nil {
			t.Errorf("restart node %d: %v", victim, err)
			return kills
		}
	}
	return kills
}

// checkHeldLeases checks, once a node decides again, that every lease the
// workers hold is present, with its seats, and that the stored leases hold
// no more seats than there are.
func (c *testCluster) checkHeldLeases(t *testing.T, held []wire.LeaseResponse, seats int) {
	var leases []usher.Lease
	err := ushertest.RetryUnavailable(15*time.Second, func() (err error) {
		leases, err = c.Client(0).Leases(context.Background())
		return err
	})
	if err != nil {
		t.Fatalf("list leases after recovery: %v", err)
	}
	have, taken := map[string]int{}, 0
	for _, l := range leases {
		have[l.ID] = max(l.Count, 1)
		taken += max(l.Count, 1)
	}
	if taken > seats {
		t.Errorf("after recovery %d leases holding %d seats are stored for %d seats", len(leases), taken, seats)
	}
	for w, l := range held {
		if l.ID != "" && have[l.ID] != max(l.Count, 1) {
			t.Errorf("worker %d holds acknowledged lease %s of %d seats, but after recovery it holds %d", w, l.ID, max(l.Count, 1), have[l.ID])
		}
	}
}
