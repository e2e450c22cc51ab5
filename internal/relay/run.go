package relay

import (
	"context"
	"sort"
	"time"
)

// TickInterval is how often Run looks at the blocks: renews the leases
// that are due (a third of the upstream's keep-alive after their last
// renewal), shrinks idle blocks and grows those with clients waiting.
const TickInterval = time.Second

// Run keeps the blocks until ctx ends, at every tick of ticks (nil: every
// TickInterval).
func (r *Relay) Run(ctx context.Context, ticks <-chan time.Time) {
	if ticks == nil {
		t := time.NewTicker(TickInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			r.Tick(ctx)
		}
	}
}

// Tick does one round of Run's work. A block lease that ended takes its
// seats with it: the ledger ends the local leases beyond what is left at
// once, rather than at its next sweep, before the upstream may give the
// seats to others.
func (r *Relay) Tick(ctx context.Context) {
	led := r.ledger()
	if led == nil {
		return
	}
	defer func() {
		if _, err := led.Reclaim(ctx); err != nil {
			r.cfg.Logger.Warn("local leases not backed upstream not ended yet: will retry", "err", err)
		}
	}()
	for _, f := range r.sortedFeatures() {
		b := r.block(f)
		b.mu.Lock()
		now := r.cfg.Now()
		r.heartbeatLocked(ctx, f, b, now)
		r.dropEndedLocked(ctx, b, now)
		r.shrinkLocked(ctx, f, b, led, now)
		waiting := led.HasWaiters(f)
		b.full = b.full && waiting
		r.publishLocked(f, b)
		b.mu.Unlock()
		if waiting {
			if err := r.Grow(ctx, f, 1); err != nil {
				r.cfg.Logger.Debug("block not grown for the clients waiting", "feature", f, "err", err)
			}
		}
	}
}

// shrinkLocked applies the hysteresis: a block grows at once, but shrinks
// only to the most seats wanted (in use plus headroom) over the last Idle,
// so that seats free for all of Idle go back upstream. Block leases are
// given back whole, largest first, as long as they fit in the idle seats.
func (r *Relay) shrinkLocked(ctx context.Context, feature string, b *block, led Ledger, now time.Time) {
	b.wanted.observe(now, led.SeatsInUse(feature)+r.cfg.Headroom)
	gone := pickIdle(b.leases, b.seats()-b.wanted.peak(now.Add(-r.cfg.Idle)))
	if len(gone) == 0 {
		return
	}
	keep := b.seats()
	for _, u := range gone {
		keep -= u.seats
	}
	if err := led.ShrinkBlock(feature, keep); err != nil {
		return // seats were taken meanwhile: try again at the next tick
	}
	r.cfg.Logger.Info("idle block shrunk upstream", "feature", feature, "seats_kept", keep, "seats_given_back", b.seats()-keep)
	r.releaseLocked(ctx, b, gone)
}

// wantedSeats is the most seats wanted over a sliding window: the
// readings kept are those that may still be the window's most, latest
// last, so that seats wanted decrease along them.
type wantedSeats struct {
	at    []time.Time
	seats []int
}

// observe records that seats were wanted at t.
func (w *wantedSeats) observe(t time.Time, seats int) {
	n := len(w.seats)
	for n > 0 && w.seats[n-1] <= seats {
		n--
	}
	w.at, w.seats = append(w.at[:n], t), append(w.seats[:n], seats)
}

// peak returns the most seats wanted after since, forgetting older
// readings; the last reading stands until a newer one replaces it.
func (w *wantedSeats) peak(since time.Time) int {
	i := 0
	for i < len(w.at)-1 && !w.at[i].After(since) {
		i++
	}
	w.at, w.seats = w.at[i:], w.seats[i:]
	if len(w.seats) == 0 {
		return 0
	}
	return w.seats[0]
}

// pickIdle chooses block leases to give back, holding at most idle seats
// between them: the largest that fit first.
func pickIdle(leases []*upLease, idle int) []*upLease {
	if idle <= 0 {
		return nil
	}
	sorted := append([]*upLease(nil), leases...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].seats > sorted[j].seats })
	var out []*upLease
	for _, u := range sorted {
		if u.seats <= idle {
			out = append(out, u)
			idle -= u.seats
		}
	}
	return out
}
