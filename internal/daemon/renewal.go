package daemon

import (
	"context"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/renewer"
)

// renewalInterval is how often the deciding node looks for renewals due.
const renewalInterval = time.Minute

// startRenewals fetches the renewals of checkpoint licenses while this
// node decides, and returns a function that stops it and waits.
func (d *Daemon) startRenewals(ctx context.Context, led *usher.Ledger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	tick := d.opts.RenewalTick
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(renewalInterval)
		tick = ticker.C
	}
	r := renewer.New(renewer.Options{Ledger: led, Now: d.opts.Now, Logger: d.logger})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Run(ctx, tick)
	}()
	return func() {
		cancel()
		wg.Wait()
		if ticker != nil {
			ticker.Stop()
		}
	}
}

// checkpoints returns the checkpoint licenses of the ledger this node
// decides with, for the metrics.
func (d *Daemon) checkpoints() []usher.Checkpoint {
	if l := d.Ledger(); l != nil {
		return l.Checkpoints()
	}
	return nil
}
