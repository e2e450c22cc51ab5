package daemon

import (
	"context"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// ClockStore keeps the latest wall-clock time the server has seen, across
// restarts: the SQLite store of a single node, etcd in a cluster.
type ClockStore interface {
	// LatestTime returns the latest time stored; zero if none was.
	LatestTime(ctx context.Context) (time.Time, error)
	// RaiseLatestTime stores t unless a later time is stored already.
	RaiseLatestTime(ctx context.Context, t time.Time) error
}

// DefaultClockInterval is how often the server reads its clock to keep
// the latest time seen and to notice a clock set back or set right.
const DefaultClockInterval = time.Minute

// clockWatch is the daemon's side of the clock guard: what it persisted,
// and whether it last found the clock set back.
type clockWatch struct {
	guard    *usher.ClockGuard
	store    ClockStore
	stored   time.Time // the latest time persisted
	tampered bool
}

// startClock loads the latest time seen, checks the clock once, and then
// every Options.ClockInterval until Close.
func (d *Daemon) startClock(ctx context.Context) error {
	w := &clockWatch{guard: usher.NewClockGuard(time.Duration(d.cfg.ClockTolerance)), store: d.back.clock}
	latest, err := w.store.LatestTime(ctx)
	if err != nil {
		return err
	}
	w.guard.Saw(latest)
	w.stored = latest
	d.clock = w
	d.checkClock(ctx)
	every := d.opts.ClockInterval
	if every <= 0 {
		every = DefaultClockInterval
	}
	d.wg.Add(1)
	go d.watchClock(every)
	return nil
}

func (d *Daemon) watchClock(every time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.checkClock(d.ctx)
	}
}

// checkClock reads the clock: a time later than any seen is kept (and
// persisted), and a change between a plausible clock and one set back is
// logged and recorded as an event. Checkouts consult the guard itself, at
// once; this only reports.
func (d *Daemon) checkClock(ctx context.Context) {
	w, now := d.clock, d.rt.now()
	w.guard.Saw(now)
	if latest := w.guard.Latest(); latest.After(w.stored) {
		if err := w.store.RaiseLatestTime(ctx, latest); err != nil {
			d.logger.Warn("the latest time seen was not stored; it will be at the next check", "err", err)
		} else {
			w.stored = latest
		}
	}
	err := w.guard.Check(now)
	switch {
	case err != nil && !w.tampered:
		w.tampered = true
		d.logger.Error("features with dates are refused: "+usher.ErrorMessage(err), "latest_seen", w.guard.Latest())
		d.events.Record(usher.Event{Type: eventlog.EventClockTampered, Reason: usher.ErrorMessage(err)})
	case err == nil && w.tampered:
		w.tampered = false
		d.logger.Info("the server's clock is right again: features with dates are served")
		d.events.Record(usher.Event{Type: eventlog.EventClockRestored, Reason: "clock at " + now.UTC().Format(time.RFC3339)})
	}
}

// clockGuard returns what every ledger of this daemon checks dates with.
func (d *Daemon) clockGuard() *usher.ClockGuard { return d.clock.guard }
