package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// measured returns the loop of the measured phase.
func (r *run) measured(rate float64) loop {
	return loop{workers: len(r.workers), deadline: time.Now().Add(r.cfg.Duration), maxOps: r.cfg.MaxOps, rate: rate}
}

// clientOf returns the logical client of worker w's k-th iteration: each
// worker cycles through the clients it owns, so no two workers ever act
// for the same client.
func (r *run) clientOf(w *worker, k int) int {
	n := owned(r.cfg.Clients, len(r.workers), w.id)
	return w.id + len(r.workers)*(k%n)
}

// checkoutRelease: each client loops checkout then release. An op is a
// completed pair.
func (r *run) checkoutRelease(ctx context.Context, res *Result) error {
	r.main = kindCheckout
	done := make([]int64, len(r.workers))
	stop := r.progress("checkout-release", r.cfg.Duration, 0)
	elapsed := r.serverCPU(res, func() time.Duration {
		return drive(ctx, r.workers, r.measured(r.cfg.Rate), func(ctx context.Context, w *worker, k int) {
			lease, ok := w.checkout(ctx, r.clientOf(w, k))
			if ok && w.release(ctx, lease) {
				done[w.id]++
			}
		})
	})
	stop()
	res.Ops, res.Elapsed = sum(done), elapsed.Seconds()
	return nil
}

// takeLeases checks out one lease for every logical client, bounded by
// the setup timeout. leases[w][j] is the lease of worker w's j-th client.
func (r *run) takeLeases(ctx context.Context, label string) ([][]string, time.Duration) {
	leases := make([][]string, len(r.workers))
	for i := range leases {
		leases[i] = make([]string, 0, owned(r.cfg.Clients, len(r.workers), i))
	}
	stop := r.progress(label, 0, int64(r.cfg.Clients))
	lp := loop{workers: len(r.workers), deadline: time.Now().Add(r.cfg.SetupTimeout), maxOps: int64(r.cfg.Clients),
		perWorker: func(w int) int { return owned(r.cfg.Clients, len(r.workers), w) }}
	elapsed := drive(ctx, r.workers, lp, func(ctx context.Context, w *worker, k int) {
		if lease, ok := w.checkout(ctx, r.clientOf(w, k)); ok {
			leases[w.id] = append(leases[w.id], lease)
		}
	})
	stop()
	return leases, elapsed
}

// releaseTimeout bounds giving the leases back, which goes on after an
// interrupt.
const releaseTimeout = time.Minute

// releaseLeases gives back what a run took from a server it did not spawn.
func (r *run) releaseLeases(ctx context.Context, leases [][]string) {
	if r.cfg.Spawn {
		return
	}
	lp := loop{workers: len(r.workers), deadline: time.Now().Add(min(r.cfg.SetupTimeout, releaseTimeout)), maxOps: int64(r.cfg.Clients),
		perWorker: func(w int) int { return len(leases[w]) }}
	stop := r.progress("releasing", 0, int64(r.cfg.Clients))
	drive(ctx, r.workers, lp, func(ctx context.Context, w *worker, k int) { w.release(ctx, leases[w.id][k]) })
	stop()
}

// giveBack returns, to a server the run did not spawn, the leases it may
// have left held: the run's deadline cuts short the requests in flight,
// whose checkouts the server may have granted and whose releases it may
// not have done. A lease it cannot give back expires after the server's
// keep-alive timeout; the run logs a warning.
func (r *run) giveBack(ctx context.Context) {
	if r.cfg.Spawn {
		return
	}
	var left atomic.Int64
	lp := loop{workers: len(r.workers), deadline: time.Now().Add(min(r.cfg.SetupTimeout, releaseTimeout)), maxOps: int64(len(r.workers)),
		perWorker: func(int) int { return 1 }}
	drive(ctx, r.workers, lp, func(ctx context.Context, w *worker, _ int) { left.Add(int64(w.giveBack(ctx))) })
	if n := left.Load(); n > 0 {
		r.cfg.Logger.Warn("the server did not answer while the bench gave back its leases: those it still holds expire after its keep-alive timeout", "at_most", n)
	}
}

// heartbeat: one lease per client, then every worker beats its leases in
// turn. An op is a successful heartbeat.
func (r *run) heartbeat(ctx context.Context, res *Result) error {
	r.main = kindHeartbeat
	leases, setup := r.takeLeases(ctx, "checking out")
	res.Setup = setup.Seconds()
	if err := r.enough(leases); err != nil {
		r.releaseLeases(context.WithoutCancel(ctx), leases)
		return err
	}
	done := make([]int64, len(r.workers))
	stop := r.progress("heartbeat", r.cfg.Duration, 0)
	elapsed := r.serverCPU(res, func() time.Duration {
		return drive(ctx, r.workers, r.measured(r.cfg.Rate), func(ctx context.Context, w *worker, k int) {
			if w.heartbeat(ctx, leases[w.id][k%len(leases[w.id])]) {
				done[w.id]++
			}
		})
	})
	stop()
	res.Ops, res.Elapsed = sum(done), elapsed.Seconds()
	r.releaseLeases(context.WithoutCancel(ctx), leases)
	return nil
}

// enough checks that every worker holds a lease to beat.
func (r *run) enough(leases [][]string) error {
	for _, ls := range leases {
		if len(ls) == 0 {
			return fmt.Errorf("could not check out a lease for every worker: is feature %q licensed with at least %d seats? (see errors with --json)", r.cfg.Feature, r.cfg.Clients)
		}
	}
	return nil
}

// startup: every client, all brand new, checks out once. An op is a
// client holding a seat; elapsed is the time until the last one does.
func (r *run) startup(ctx context.Context, res *Result) error {
	r.main = kindCheckout
	lp := r.measured(r.cfg.Rate)
	lp.maxOps = min(lp.maxOps, int64(r.cfg.Clients))
	lp.perWorker = func(w int) int { return owned(r.cfg.Clients, len(r.workers), w) }
	leases := make([][]string, len(r.workers))
	stop := r.progress("startup", 0, int64(r.cfg.Clients))
	elapsed := r.serverCPU(res, func() time.Duration {
		return drive(ctx, r.workers, lp, func(ctx context.Context, w *worker, k int) {
			if lease, ok := w.checkout(ctx, r.clientOf(w, k)); ok {
				leases[w.id] = append(leases[w.id], lease)
			}
		})
	})
	stop()
	for _, ls := range leases {
		res.Ops += int64(len(ls))
	}
	res.Elapsed = elapsed.Seconds()
	r.releaseLeases(context.WithoutCancel(ctx), leases)
	return nil
}

// hold: one lease per client, each beating once per interval (open loop)
// for the duration, while the server's memory and CPU are read from
// /proc. An op is a successful heartbeat.
func (r *run) hold(ctx context.Context, res *Result) error {
	r.main = kindHeartbeat
	before, usageErr := r.usage()
	leases, setup := r.takeLeases(ctx, "checking out")
	res.Setup = setup.Seconds()
	if err := r.enough(leases); err != nil {
		r.releaseLeases(context.WithoutCancel(ctx), leases)
		return err
	}
	interval := r.interval()
	held, _ := r.usage()
	done := make([]int64, len(r.workers))
	stop := r.progress("holding", r.cfg.Duration, 0)
	lp := r.measured(float64(r.cfg.Clients) / interval.Seconds())
	elapsed := drive(ctx, r.workers, lp, func(ctx context.Context, w *worker, k int) {
		if w.heartbeat(ctx, leases[w.id][k%len(leases[w.id])]) {
			done[w.id]++
		}
	})
	stop()
	res.Ops, res.Elapsed, res.Rate = sum(done), elapsed.Seconds(), lp.rate
	after, err := r.usage()
	if usageErr == nil && err == nil {
		n := float64(countLeases(leases))
		res.RSS, res.PeakRSS, res.RSSBefore = after.RSS, after.PeakRSS, before.RSS
		res.RSSPerLease = float64(after.RSS-before.RSS) / n
		res.CPU = (after.CPU - held.CPU).Seconds()
		res.CPUPercent = 100 * res.CPU / elapsed.Seconds()
		if res.Store = r.srv.storeBytes(); res.Store > 0 {
			res.StorePer = float64(res.Store) / n
		}
	}
	res.Usage = r.usageSource(usageErr)
	r.releaseLeases(context.WithoutCancel(ctx), leases)
	return nil
}

// serverCPU runs the measured phase and, when the server is a process of
// its own on this host, records the CPU time it spent meanwhile.
func (r *run) serverCPU(res *Result, phase func() time.Duration) time.Duration {
	if r.srv.pid == 0 || r.srv.pid == os.Getpid() {
		return phase()
	}
	before, err := readProc(r.srv.pid)
	elapsed := phase()
	after, err2 := readProc(r.srv.pid)
	if err == nil && err2 == nil {
		res.CPU = (after.CPU - before.CPU).Seconds()
		res.CPUPercent = 100 * res.CPU / elapsed.Seconds()
		res.RSS, res.PeakRSS = after.RSS, after.PeakRSS
	}
	res.Usage = r.usageSource(errors.Join(err, err2))
	return elapsed
}

// interval is how often each lease beats in hold: --interval, else the
// server's heartbeat interval (a third of its keep-alive timeout).
func (r *run) interval() time.Duration {
	if r.cfg.Interval > 0 {
		return r.cfg.Interval
	}
	for _, w := range r.workers {
		if d, err := time.ParseDuration(jsonString(w.conn.body, `"heartbeat_interval":"`)); err == nil && d > 0 {
			return d
		}
	}
	return r.cfg.Keepalive / 3
}

// usage reads the server process's memory and CPU, when it is known.
func (r *run) usage() (procUsage, error) {
	if r.srv.pid == 0 {
		return procUsage{}, fmt.Errorf("unknown")
	}
	return readProc(r.srv.pid)
}

func (r *run) usageSource(err error) string {
	switch {
	case r.srv.pid == 0:
		return "unknown: the server's process is not known; give --server-pid for a server on this host, or use --spawn"
	case err != nil:
		return "unknown: " + err.Error()
	case r.srv.pid == os.Getpid():
		return fmt.Sprintf("this process (pid %d): the in-process server and the load generator together", r.srv.pid)
	}
	return fmt.Sprintf("server process %d, from /proc", r.srv.pid)
}

// bare loads a bare handler with the same requests as heartbeat: the
// ceiling of HTTP on this host, with nothing of Usher in it.
func (r *run) bare(ctx context.Context, res *Result) error {
	r.main = kindBare
	done := make([]int64, len(r.workers))
	path := []byte("/v1/leases/ls_000000000000000000000000/heartbeat")
	stop := r.progress("bare", r.cfg.Duration, 0)
	elapsed := drive(ctx, r.workers, r.measured(r.cfg.Rate), func(ctx context.Context, w *worker, k int) {
		if _, code := w.do(ctx, "POST", path, nil, kindBare); code == "" {
			done[w.id]++
		}
	})
	stop()
	res.Ops, res.Elapsed = sum(done), elapsed.Seconds()
	return nil
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

func countLeases(leases [][]string) int {
	n := 0
	for _, ls := range leases {
		n += len(ls)
	}
	return max(n, 1)
}

// progress redraws a progress line on cfg.Progress every 200ms until the
// returned stop is called: against a duration, or a count of ops.
func (r *run) progress(label string, d time.Duration, total int64) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	start, base := time.Now(), r.ops.Load()
	quit, done := make(chan struct{}), make(chan struct{})
	draw := func() {
		n, el := r.ops.Load()-base, time.Since(start)
		frac := 0.0
		switch {
		case d > 0:
			frac = min(1, el.Seconds()/d.Seconds())
		case total > 0:
			frac = min(1, float64(n)/float64(total))
		}
		bar := strings.Repeat("#", int(frac*30)) + strings.Repeat(".", 30-int(frac*30))
		fmt.Fprintf(r.cfg.Progress, "\r%-16s [%s] %5.1fs %10d requests ", label, bar, el.Seconds(), n)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				draw()
				fmt.Fprintln(r.cfg.Progress)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(quit); <-done }
}
