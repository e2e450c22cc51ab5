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
	"github.com/usher-lm/usher/internal/wire"
)

// Outcome of a checkout the policy refused: the reserve kept the seat.
const outDenied = outUnknown + 1

// reserveOp is a checkout or release by a member of the reserving group
// (vip) or by anyone else.
type reserveOp struct {
	kind int
	vip  bool
}

// reserveState is the seats held by members and by others.
type reserveState struct{ vip, other int }

// reserveModel is a pool of seats of which reserve are kept for members:
// another may take a seat only while more are free than the members'
// unused reservation.
func reserveModel(seats, reserve int) porcupine.Model {
	grant := func(s reserveState, vip bool) (reserveState, bool, bool) { // next, may, full
		free := seats - s.vip - s.other
		if free <= 0 {
			return s, false, true
		}
		if !vip && free <= max(0, reserve-s.vip) {
			return s, false, false
		}
		if vip {
			s.vip++
		} else {
			s.other++
		}
		return s, true, false
	}
	release := func(s reserveState, vip bool) (reserveState, bool) {
		if vip && s.vip > 0 {
			s.vip--
			return s, true
		}
		if !vip && s.other > 0 {
			s.other--
			return s, true
		}
		return s, false
	}
	m := porcupine.NondeterministicModel{
		Init: func() []any { return []any{reserveState{}} },
		Step: func(state, input, output any) []any {
			s, in, out := state.(reserveState), input.(reserveOp), output.(seatOut).result
			if in.kind == opRelease {
				next, ok := release(s, in.vip)
				switch {
				case out == outOK && ok:
					return []any{next}
				case out == outUnknown && ok:
					return []any{s, next}
				case out == outUnknown:
					return []any{s}
				}
				return nil
			}
			next, ok, full := grant(s, in.vip)
			switch {
			case out == outOK && ok, out == outFull && full, out == outDenied && !ok && !full:
				return []any{next}
			case out == outUnknown && ok:
				return []any{s, next}
			case out == outUnknown:
				return []any{s}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			in := input.(reserveOp)
			return fmt.Sprintf("%v vip=%v -> %v", []string{"checkout", "release"}[in.kind], in.vip,
				[]string{"ok", "full", "unknown", "denied"}[output.(seatOut).result])
		},
	}
	return m.ToModel()
}

func (h *history) record(client int, in reserveOp, call int64, result int) {
	ret := h.now()
	if result == outUnknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: seatOut{result}, Return: ret})
	h.mu.Unlock()
}

// TestJepsenReserveLinearizable runs members of a group that has seats
// reserved, and others, through every node while a nemesis kills and
// restarts nodes; the history must be linearizable against a pool that
// honours the reserve, on every node that decides in turn.
func TestJepsenReserveLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts cluster nodes for several seconds")
	}
	const seats, reserve, workers = 3, 2, 6
	run := 6 * time.Second
	if v, err := time.ParseDuration(os.Getenv("USHER_JEPSEN_DURATION")); err == nil && v > 0 {
		run = v
	}
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	c.AddLicense(dec, "cad", seats)
	policy := fmt.Sprintf("[groups]\nvip = [\"user:vip*\"]\n[feature.cad]\nreserve = { \"group:vip\" = %d }\n", reserve)
	if _, err := c.Client(dec).SetPolicy(context.Background(), []byte(policy)); err != nil {
		t.Fatal(err)
	}
	h := &history{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	held := make([]string, workers)
	for w := range workers {
		wg.Go(func() { held[w] = c.reserveWorker(t, ctx, h, w, w%3 == 0) })
	}
	kills := c.nemesis(t, ctx)
	wg.Wait()
	t.Logf("%d operations, %d kills", len(h.ops), kills)
	model := reserveModel(seats, reserve)
	res, info := porcupine.CheckOperationsVerbose(model, h.ops, 60*time.Second)
	if res == porcupine.Illegal {
		path := t.TempDir() + "/history.html"
		_ = porcupine.VisualizePath(model, info, path)
		t.Fatalf("the history of %d operations is not linearizable against %d seats with %d reserved (visualization: %s)", len(h.ops), seats, reserve, path)
	}
	if res != porcupine.Ok {
		t.Errorf("linearizability check of %d operations: %s", len(h.ops), res)
	}
	leases := make([]wire.LeaseResponse, len(held)) // one seat each
	for i, id := range held {
		leases[i].ID = id
	}
	c.checkHeldLeases(t, leases, seats)
}

// reserveWorker checks out and releases, as a member of the group vip or
// not, until ctx ends; it returns the lease it holds at the end.
func (c *testCluster) reserveWorker(t *testing.T, ctx context.Context, h *history, w int, vip bool) string {
	f := &failoverClient{next: w % len(c.Configs)}
	for i := range c.Configs {
		f.nodes = append(f.nodes, c.ClientWithin(i, 3*time.Second))
	}
	user := fmt.Sprint("user", w)
	if vip {
		user = fmt.Sprint("vip", w)
	}
	bg := context.Background()
	for n := 0; n < 2000; n++ {
		time.Sleep(time.Duration(10+rand.IntN(20)) * time.Millisecond)
		last := ctx.Err() != nil
		call := h.now()
		var lease wire.LeaseResponse
		_, err := f.do(bg, func(cl *apiclient.Client) (err error) {
			lease, _, err = cl.Checkout(bg, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprintf("w%d-%d", w, n), User: user}})
			return err
		})
		result := map[string]int{"": outOK, usher.ENoSeats: outFull, usher.EPolicyDenied: outDenied}[usher.ErrorCode(err)]
		if _, known := map[string]bool{"": true, usher.ENoSeats: true, usher.EPolicyDenied: true}[usher.ErrorCode(err)]; !known {
			result = outUnknown
		}
		h.record(w, reserveOp{opCheckout, vip}, call, result)
		if result != outOK {
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
		case err == nil, usher.ErrorCode(err) == usher.ELeaseNotFound && attempts > 1:
			h.record(w, reserveOp{opRelease, vip}, call, outOK)
		case usher.ErrorCode(err) == usher.ELeaseNotFound:
			t.Errorf("acknowledged lease %s was lost: release answered %v", lease.ID, err)
			h.record(w, reserveOp{opRelease, vip}, call, outOK)
		default:
			h.record(w, reserveOp{opRelease, vip}, call, outUnknown)
		}
	}
	return ""
}
