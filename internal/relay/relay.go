// Package relay holds a relay's blocks of seats on its upstream server:
// it checks them out there as multi-seat leases, keeps them alive with
// one heartbeat per lease, grows them when local checkouts need more
// seats and shrinks them once seats have been idle (docs/relay.md). The
// relay's ledger decides every local checkout against the blocks (see
// usher.BlockSupplier); this package is how they cross the network.
package relay

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// Defaults for Config.
const (
	DefaultIdle        = 60 * time.Second
	DefaultGrowTimeout = 10 * time.Second
)

// Auto is the upstream that means: find it by discovery (Config.Finder).
const Auto = "auto"

// Finder finds upstream servers, for an upstream of "auto": the
// discovery of servers on the local network.
type Finder interface {
	Find(ctx context.Context) ([]string, error)
}

// Ledger is what a relay needs of its ledger: *usher.Ledger.
type Ledger interface {
	SetBlock(usher.Block)
	ShrinkBlock(feature string, seats int) error
	SeatsInUse(feature string) int
	HasWaiters(feature string) bool
	// Reclaim ends the local leases no longer backed: those of an ended
	// block, and the latest beyond the seats a block still has.
	Reclaim(ctx context.Context) ([]usher.Lease, error)
}

// Config configures a Relay.
type Config struct {
	// Upstream lists the upstream's URLs, in order of preference, or is
	// just Auto.
	Upstream []string
	// Finder finds the upstream when Upstream is Auto.
	Finder Finder
	// Headroom is how many seats a block may hold beyond the local leases.
	Headroom int
	// Idle is how long seats of a block stay free before it shrinks;
	// default DefaultIdle.
	Idle time.Duration
	// GrowTimeout bounds a checkout's wait for its block to grow; default
	// DefaultGrowTimeout.
	GrowTimeout time.Duration
	// Token and TLSFingerprint authenticate to the upstream and pin its
	// certificate, as the SDK's options of the same names.
	Token, TLSFingerprint string
	// ID names this relay upstream (its server GUID): each block lease's
	// client id is ID/feature/n. User and Host are reported with them.
	ID, User, Host string

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default discards
}

// Relay holds the blocks of a relay. Grow is safe for concurrent use;
// Run heartbeats and shrinks them until its context ends.
type Relay struct {
	cfg Config
	up  *client.Client

	mu     sync.Mutex
	led    Ledger
	blocks map[string]*block
	seq    int // numbers block leases, for their client ids
	// run tells this run's block leases from those of an earlier run,
	// which the upstream may still hold: asked again for a client id it
	// knows, it would answer with the lease it has.
	run string
}

// block is the upstream leases that make up the block of one feature.
type block struct {
	// asking counts the seats that checkouts waiting for mu want, so that
	// the first to hold mu grows the block for them all at once.
	asking atomic.Int64
	mu     sync.Mutex // held across the upstream requests of this feature
	leases []*upLease
	wanted wantedSeats // the seats wanted lately, for the hysteresis
	// full is set when the upstream last answered that it has no seat:
	// an empty block then still names the feature, so that checkouts may
	// wait in line for it.
	full bool
	// published is the block as the ledger has it, so that an unchanged
	// block is not set again at every tick.
	published usher.Block
}

// upLease is one multi-seat lease upstream.
type upLease struct {
	id, clientID string
	seats        int
	keepalive    time.Duration
	contact      time.Time // when the last confirmation was sent
	failing      bool      // its last renewal failed (logged once)
}

func (u *upLease) until() time.Time { return u.contact.Add(u.keepalive) }

// ended reports whether the lease may no longer back seats: in its last
// second, which the ledger's block (whole seconds) no longer serves.
func (u *upLease) ended(now time.Time) bool { return !now.Before(u.until().Add(-time.Second)) }

func (u *upLease) due(now time.Time) bool {
	return !now.Before(u.contact.Add(u.keepalive / 3))
}

// New returns a relay of cfg's upstream. Errors: EInvalid when the
// upstream is missing, or Auto without a Finder.
func New(cfg Config) (*Relay, error) {
	cfg.Idle = cmp.Or(cfg.Idle, DefaultIdle)
	cfg.GrowTimeout = cmp.Or(cfg.GrowTimeout, DefaultGrowTimeout)
	cfg.User = cmp.Or(cfg.User, "relay")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := client.Options{Token: cfg.Token, TLSFingerprint: cfg.TLSFingerprint, ClientID: cfg.ID, User: cfg.User, Host: cfg.Host,
		Getenv: func(string) string { return "" }}
	switch {
	case len(cfg.Upstream) == 0:
		return nil, usher.Errorf(usher.EInvalid, "a relay needs an upstream: set upstream to its URLs, or to auto")
	case len(cfg.Upstream) == 1 && cfg.Upstream[0] == Auto:
		if cfg.Finder == nil {
			return nil, usher.Errorf(usher.EInvalid, "upstream auto needs server discovery, which this build lacks: name the upstream's URLs")
		}
		opts.Resolver = resolver{cfg.Finder}
	default:
		opts.Servers = cfg.Upstream
	}
	up, err := client.New(opts)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &Relay{cfg: cfg, up: up, blocks: make(map[string]*block), run: rand.Text()[:8]}, nil
}

// resolver lets the SDK find the upstream through a Finder.
type resolver struct{ f Finder }

func (r resolver) Resolve(ctx context.Context) ([]string, error) { return r.f.Find(ctx) }

// Attach makes the relay supply led: the ledger of the term the server
// decides in. The blocks it holds already are set on led.
func (r *Relay) Attach(led Ledger) {
	r.mu.Lock()
	r.led = led
	blocks := make(map[string]*block, len(r.blocks))
	for f, b := range r.blocks {
		blocks[f] = b
	}
	r.mu.Unlock()
	for f, b := range blocks {
		b.mu.Lock()
		b.published = usher.Block{} // a new ledger has none
		r.publishLocked(f, b)
		b.mu.Unlock()
	}
}

// ledger returns the ledger supplied, nil before Attach.
func (r *Relay) ledger() Ledger {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.led
}

// block returns the block of feature, new if there was none.
func (r *Relay) block(feature string) *block {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.blocks[feature]
	if b == nil {
		b = &block{}
		r.blocks[feature] = b
	}
	return b
}

// nextClientID returns a fresh client id for a block lease of feature.
func (r *Relay) nextClientID(feature string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return r.cfg.ID + "/" + feature + "/" + r.run + "-" + strconv.Itoa(r.seq)
}

func (b *block) seats() int {
	n := 0
	for _, u := range b.leases {
		n += u.seats
	}
	return n
}

// until returns when the block ends: when its first lease would expire
// upstream, counted from when its last confirmation was sent.
func (b *block) until() time.Time {
	var t time.Time
	for _, u := range b.leases {
		if t.IsZero() || u.until().Before(t) {
			t = u.until()
		}
	}
	return t
}

// publishLocked sets the block on the ledger. A block with no lease left
// has ended, unless the upstream is full: then it has no seat and no end.
func (r *Relay) publishLocked(feature string, b *block) {
	led := r.ledger()
	if led == nil {
		return
	}
	until := b.until()
	if len(b.leases) == 0 && !b.full {
		until = r.cfg.Now() // ended: the feature's local leases end with it
	}
	nb := usher.Block{Feature: feature, Seats: b.seats(), Until: until}
	for _, u := range b.leases {
		nb.Parts = append(nb.Parts, usher.BlockPart{Seats: u.seats, Until: u.until()})
	}
	if nb.Equal(b.published) {
		return
	}
	led.SetBlock(nb)
	b.published = nb
}

// sortedFeatures returns the features the relay holds blocks of.
func (r *Relay) sortedFeatures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.blocks))
}
