package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

var _ usher.BlockSupplier = (*Relay)(nil)

// Grow makes the block of feature hold seats more than are in use, plus
// the headroom, checking the missing seats out upstream as one lease (all
// or none) within GrowTimeout. It returns the upstream's refusal:
// ENoSeats, EFeatureNotFound, EUnavailable when it cannot be reached...
func (r *Relay) Grow(ctx context.Context, feature string, seats int) error {
	led := r.ledger()
	if led == nil {
		return usher.Errorf(usher.EUnavailable, "the relay is starting: retry")
	}
	b := r.block(feature)
	b.asking.Add(int64(seats))
	b.mu.Lock()
	defer b.mu.Unlock()
	asking := int(b.asking.Load())
	b.asking.Add(-int64(seats))
	ctx, cancel := context.WithTimeout(ctx, r.cfg.GrowTimeout)
	defer cancel()
	now := r.cfg.Now()
	r.dropEndedLocked(ctx, b, now)
	want := led.SeatsInUse(feature) + asking + r.cfg.Headroom
	b.wanted.observe(now, want)
	if missing := want - b.seats(); missing > 0 {
		u, err := r.checkout(ctx, feature, missing)
		if usher.ErrorCode(err) == usher.ENoSeats && asking > seats {
			// All or none: the others asking may be too many, this one not.
			if missing = want - (asking - seats) - b.seats(); missing > 0 {
				u, err = r.checkout(ctx, feature, missing)
			}
		}
		b.full = usher.ErrorCode(err) == usher.ENoSeats
		if err != nil {
			r.publishLocked(feature, b)
			return err
		}
		b.leases = append(b.leases, u)
	}
	r.publishLocked(feature, b)
	return nil
}

// checkout checks out a block lease of seats upstream.
func (r *Relay) checkout(ctx context.Context, feature string, seats int) (*upLease, error) {
	id := r.nextClientID(feature)
	body := wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: id, User: r.cfg.User, Host: r.cfg.Host}}
	if seats > 1 {
		body.Count = seats
	}
	sent := r.cfg.Now()
	var lr wire.LeaseResponse
	if err := r.call(ctx, http.MethodPost, wire.PathLeases, body, &lr); err != nil {
		return nil, upstreamRefused(feature, err)
	}
	if got := max(lr.Count, 1); got != seats {
		// Not the lease asked for: give it back rather than guess.
		r.giveBack(ctx, lr.ID)
		return nil, usher.Errorf(usher.EUnavailable, "the upstream answered a checkout of %d seats of feature %s with a lease of %d: retry", seats, feature, got)
	}
	keepalive := lr.ExpiresAt.Sub(lr.LastHeartbeat)
	if keepalive <= 0 {
		keepalive = usher.DefaultKeepaliveTimeout
	}
	r.cfg.Logger.Debug("block grown upstream", "feature", feature, "seats", seats, "lease", lr.ID)
	return &upLease{id: lr.ID, clientID: id, seats: seats, keepalive: keepalive, contact: sent}, nil
}

// upstreamRefused says that the upstream refused, keeping its code but
// for a refused credential: that is the relay's to fix, not its client's.
func upstreamRefused(feature string, err error) error {
	code := usher.ErrorCode(err)
	if code == usher.EUnauthorized || code == usher.EForbidden {
		return usher.Errorf(usher.EUnavailable, "the upstream of this relay refused its credential (%s): the relay's admin sets upstream_token to the upstream's client_password or a client token", usher.ErrorMessage(err))
	}
	if code == usher.EUnavailable {
		return usher.Errorf(code, "the upstream of this relay did not answer for seats of feature %s: %s", feature, usher.ErrorMessage(err))
	}
	return usher.Errorf(code, "the upstream of this relay refused seats of feature %s: %s", feature, usher.ErrorMessage(err))
}

// call sends one request upstream and decodes its JSON answer into out.
func (r *Relay) call(ctx context.Context, method, path string, in, out any) error {
	req := client.Request{Method: method, Path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body = b
	}
	resp, err := r.up.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return usher.Errorf(usher.EUnavailable, "the upstream sent an answer the relay cannot read: %v", err)
	}
	return nil
}

// heartbeatLocked renews every block lease that is due. A lease the
// upstream no longer holds (kicked there) leaves the block: the ledger
// then ends the latest local leases beyond the seats the rest backs.
func (r *Relay) heartbeatLocked(ctx context.Context, feature string, b *block, now time.Time) {
	for _, u := range b.leases {
		if !u.due(now) {
			continue
		}
		sent := r.cfg.Now()
		err := r.call(ctx, http.MethodPost, wire.HeartbeatPath(u.id), nil, &wire.HeartbeatResponse{})
		switch {
		case err == nil:
			if u.failing {
				r.cfg.Logger.Info("block lease renewed upstream again", "feature", feature, "lease", u.id)
			}
			u.contact, u.failing = sent, false
		case errors.Is(err, usher.ErrLeaseNotFound):
			r.cfg.Logger.Warn("the upstream lost a block lease: its seats leave the block, and the latest local leases beyond the rest end", "feature", feature, "lease", u.id, "seats", u.seats)
			r.releaseLocked(ctx, b, []*upLease{u})
		default:
			// Once per outage, not at every tick: the lease is due again
			// each second until the upstream answers.
			log := r.cfg.Logger.Debug
			if !u.failing {
				log = r.cfg.Logger.Warn
			}
			u.failing = true
			log("block lease not renewed upstream: its seats are served until it would expire there", "feature", feature, "lease", u.id, "until", u.until(), "err", err)
			if errors.Is(err, usher.ErrUnavailable) {
				return // the others at the next tick, rather than each waiting for no answer
			}
		}
	}
}

// dropEndedLocked forgets the block leases that the upstream may have
// reclaimed by now, giving them back in case it has not.
func (r *Relay) dropEndedLocked(ctx context.Context, b *block, now time.Time) {
	var ended []*upLease
	for _, u := range b.leases {
		if u.ended(now) {
			ended = append(ended, u)
		}
	}
	if len(ended) > 0 {
		r.releaseLocked(ctx, b, ended)
	}
}

// releaseLocked removes leases from the block and gives them back
// upstream. The caller has lowered the ledger's block first (or the
// block has ended): a failed release only keeps the seats upstream until
// its keep-alive reclaims them.
func (r *Relay) releaseLocked(ctx context.Context, b *block, gone []*upLease) {
	drop := make(map[*upLease]bool, len(gone))
	for _, u := range gone {
		drop[u] = true
	}
	kept := b.leases[:0:0]
	for _, u := range b.leases {
		if !drop[u] {
			kept = append(kept, u)
		}
	}
	b.leases = kept
	for _, u := range gone {
		r.giveBack(ctx, u.id)
	}
}

// giveBack releases a block lease upstream.
func (r *Relay) giveBack(ctx context.Context, id string) {
	err := r.call(ctx, http.MethodDelete, wire.LeasePath(id), nil, nil)
	if err != nil && !errors.Is(err, usher.ErrLeaseNotFound) {
		r.cfg.Logger.Warn("block lease not given back upstream: it ends at its keep-alive", "lease", id, "err", err)
	}
}

// Adopt gives the local leases a ledger kept across a restart a block
// again: for each feature with seats in use it grows a block for them,
// or ends them when the upstream refuses. The ledger holds no block
// before: until one is set, the feature is ended.
func (r *Relay) Adopt(ctx context.Context, features []string) {
	led := r.ledger()
	for _, f := range features {
		led.SetBlock(usher.Block{Feature: f, Until: r.cfg.Now()})
		if err := r.Grow(ctx, f, 0); err != nil {
			r.cfg.Logger.Warn("local leases kept across a restart not backed upstream: they end", "feature", f, "err", err)
		}
	}
}

// Close gives every block back upstream, within ctx, ending the local
// leases they backed. Call it once the server no longer serves.
func (r *Relay) Close(ctx context.Context) error {
	led := r.ledger()
	for _, f := range r.sortedFeatures() {
		b := r.block(f)
		b.mu.Lock()
		if led != nil {
			led.SetBlock(usher.Block{Feature: f, Until: r.cfg.Now()})
		}
		r.releaseLocked(ctx, b, b.leases)
		b.mu.Unlock()
	}
	return r.up.Close()
}

// String names the relay's upstream, for logs.
func (r *Relay) String() string { return fmt.Sprint(r.cfg.Upstream) }

// Abandon forgets every block without giving it back, as a relay killed
// does: the upstream reclaims them at their keep-alive.
func (r *Relay) Abandon() {
	for _, f := range r.sortedFeatures() {
		b := r.block(f)
		b.mu.Lock()
		b.leases = nil
		b.mu.Unlock()
	}
}
