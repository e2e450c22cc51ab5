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

type seatOp struct{ kind int }
type seatOut struct{ result int }

// seatModel is a pool of seats: a checkout takes one if any is free and
// is refused only when none is, a release frees one.
func seatModel(seats int) porcupine.Model {
	m := porcupine.NondeterministicModel{
		Init: func() []any { return []any{0} },
		Step: func(state, input, output any) []any {
			n, in, out := state.(int), input.(seatOp), output.(seatOut)
			switch {
			case in.kind == opCheckout && out.result == outOK && n < seats:
				return []any{n + 1}
			case in.kind == opCheckout && out.result == outFull && n == seats:
				return []any{n}
			case in.kind == opCheckout && out.result == outUnknown:
				if n < seats {
					return []any{n, n + 1}
				}
				return []any{n}
			case in.kind == opRelease && out.result == outOK && n > 0:
				return []any{n - 1}
			case in.kind == opRelease && out.result == outUnknown:
				if n > 0 {
					return []any{n, n - 1}
				}
				return []any{n}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			return fmt.Sprintf("%v -> %v", []string{"checkout", "release"}[input.(seatOp).kind], []string{"ok", "full", "unknown"}[output.(seatOut).result])
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

func (h *history) add(client int, kind int, call int64, result int) {
	ret := h.now()
	if result == outUnknown {
		ret = math.MaxInt64 // it may take effect at any later time
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: seatOp{kind}, Call: call, Output: seatOut{result}, Return: ret})
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

// TestJepsenSeatsLinearizable runs clients that check out and release
// through every node while a nemesis kills and restarts nodes, then
// checks the history against the seat-counter model and that every lease
// still held was kept.
func TestJepsenSeatsLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts cluster nodes for several seconds")
	}
	const seats, workers = 3, 6
	run := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("USHER_JEPSEN_DURATION")); err == nil && v > 0 {
		run = v
	}
	c := mustStartCluster(t, 3)
	c.MustDecider()
	c.AddLicense(0, "cad", seats)

	h := &history{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	held := make([]string, workers) // the lease each worker holds at the end
	for w := range workers {
		wg.Go(func() { held[w] = c.jepsenWorker(t, ctx, h, w) })
	}
	kills := c.nemesis(t, ctx)
	wg.Wait()
	t.Logf("%d operations, %d kills", len(h.ops), kills)

	res, info := porcupine.CheckOperationsVerbose(seatModel(seats), h.ops, 60*time.Second)
	if res == porcupine.Illegal {
		path := t.TempDir() + "/history.html"
		_ = porcupine.VisualizePath(seatModel(seats), info, path)
		t.Fatalf("the history of %d operations is not linearizable against a pool of %d seats (visualization: %s)", len(h.ops), seats, path)
	}
	if res != porcupine.Ok {
		t.Errorf("linearizability check of %d operations: %s (the checker ran out of time: shorten USHER_JEPSEN_DURATION)", len(h.ops), res)
	}
	c.checkHeldLeases(t, held, seats)
}

// jepsenWorker checks out and releases until ctx ends, then checks out
// once more and returns the lease it holds ("" if none).
func (c *testCluster) jepsenWorker(t *testing.T, ctx context.Context, h *history, w int) string {
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
		var lease wire.LeaseResponse
		_, err := f.do(bg, func(cl *apiclient.Client) (err error) {
			lease, err = clusterCheckout(bg, cl, "cad", fmt.Sprintf("w%d-%d", w, n))
			return err
		})
		switch usher.ErrorCode(err) {
		case "":
			h.add(w, opCheckout, call, outOK)
		case usher.ENoSeats:
			h.add(w, opCheckout, call, outFull)
			if last {
				return ""
			}
			continue
		default:
			h.add(w, opCheckout, call, outUnknown)
			if last {
				return ""
			}
			continue
		}
		if last {
			return lease.ID
		}
		call = h.now()
		attempts, err := f.do(bg, func(cl *apiclient.Client) error { return cl.Release(bg, lease.ID) })
		switch {
		case err == nil:
			h.add(w, opRelease, call, outOK)
		case usher.ErrorCode(err) == usher.ELeaseNotFound && attempts > 1:
			h.add(w, opRelease, call, outOK) // an earlier attempt released it
		case usher.ErrorCode(err) == usher.ELeaseNotFound:
			t.Errorf("acknowledged lease %s was lost: release answered %v", lease.ID, err)
			h.add(w, opRelease, call, outOK)
		default:
			h.add(w, opRelease, call, outUnknown)
		}
	}
	return ""
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
// workers hold is present and that no more leases than seats are stored.
func (c *testCluster) checkHeldLeases(t *testing.T, held []string, seats int) {
	var leases []usher.Lease
	err := ushertest.RetryUnavailable(15*time.Second, func() (err error) {
		leases, err = c.Client(0).Leases(context.Background())
		return err
	})
	if err != nil {
		t.Fatalf("list leases after recovery: %v", err)
	}
	if len(leases) > seats {
		t.Errorf("after recovery %d leases are stored for %d seats", len(leases), seats)
	}
	have := map[string]bool{}
	for _, l := range leases {
		have[l.ID] = true
	}
	for w, id := range held {
		if id != "" && !have[id] {
			t.Errorf("worker %d holds acknowledged lease %s, but it is gone after recovery", w, id)
		}
	}
}
