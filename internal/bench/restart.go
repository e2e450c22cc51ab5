package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// maxFillers bounds the goroutines that fill the store; more of them make
// larger group commits.
const maxFillers = 1024

// restart fills a spawned server's store with one lease per client through
// its ledger (no HTTP: the fill is setup, not the measure), stops it, and
// times a start on the same data directory: in a child process when the
// server command is known, so that its memory is its own, else in process.
// An op is a lease restored; elapsed is the time to start serving.
func (r *run) restart(ctx context.Context, res *Result) error {
	filled, fill, errs := r.fill(ctx)
	res.Setup = fill.Seconds()
	for code, n := range errs {
		r.workers[0].errs[code] += n
	}
	if err := r.srv.stopServer(); err != nil {
		return fmt.Errorf("stop the filled server: %w", err)
	}
	start := time.Now()
	var err error
	if len(r.cfg.ServerCommand) > 0 {
		err = r.srv.startChild(ctx)
	} else {
		err = r.srv.startInProcess(ctx)
	}
	if err != nil {
		return fmt.Errorf("restart on the filled store: %w", err)
	}
	res.Elapsed = time.Since(start).Seconds()
	res.Server = r.srv.describe()
	restored, err := inUse(ctx, r.srv, r.cfg.Feature)
	if err != nil {
		return err
	}
	if restored != filled {
		r.workers[0].errs["lease_not_restored"] += filled - restored
	}
	res.Ops = restored
	res.Usage = "not measured: the restart ran in process; usher bench runs it as a child process"
	if r.srv.child != nil {
		u, err := r.usage()
		if err == nil {
			res.RSS, res.PeakRSS, res.CPU = u.RSS, u.PeakRSS, u.CPU.Seconds()
			res.RSSPerLease = float64(u.RSS) / float64(max(restored, 1))
		}
		res.Usage = r.usageSource(err)
	}
	if res.Store = r.srv.storeBytes(); res.Store > 0 {
		res.StorePer = float64(res.Store) / float64(max(restored, 1))
	}
	return nil
}

// fill checks out one lease per client straight through the in-process
// ledger, bounded by the setup timeout.
func (r *run) fill(ctx context.Context) (int64, time.Duration, map[string]int64) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	led := r.srv.daemon.Ledger()
	n := min(r.cfg.Clients, maxFillers)
	stop := r.progress("filling", 0, int64(r.cfg.Clients))
	var (
		mu     sync.Mutex
		errs   = map[string]int64{}
		filled int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok int64
			for j := i; j < r.cfg.Clients && ctx.Err() == nil; j += n {
				_, _, err := led.Checkout(ctx, usher.CheckoutRequest{Feature: r.cfg.Feature,
					Client: usher.Client{ID: r.tgt.clientID(j), User: "bench", Host: "bench"}})
				r.ops.Add(1)
				if err == nil {
					ok++
					continue
				}
				mu.Lock()
				errs[usher.ErrorCode(err)]++
				mu.Unlock()
			}
			mu.Lock()
			filled += ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	return filled, elapsed, errs
}

// inUse asks the server how many seats of feature are taken.
func inUse(ctx context.Context, s *server, feature string) (int64, error) {
	api, err := s.api()
	if err != nil {
		return 0, err
	}
	fs, err := api.Features(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the restarted server's features: %w", err)
	}
	for _, f := range fs {
		if f.Name == feature {
			return int64(f.InUse), nil
		}
	}
	return 0, fmt.Errorf("the restarted server does not serve feature %s: its license was not restored", feature)
}
