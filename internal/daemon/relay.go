package daemon

import (
	"context"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery"
	"github.com/usher-lm/usher/internal/discovery/lan"
	"github.com/usher-lm/usher/internal/relay"
)

// relayCloseTimeout bounds how long Close spends giving the blocks back
// upstream.
const relayCloseTimeout = 5 * time.Second

// startRelay makes the relay of a server with an upstream (docs/relay.md).
func (d *Daemon) startRelay() error {
	if !d.cfg.IsRelay() {
		return nil
	}
	finder := d.opts.UpstreamFinder
	if finder == nil {
		// The LAN's servers but this one, found as usher discover does.
		finder = lanFinder{&discovery.Resolver{Exclude: d.ident.guid, Options: discovery.FindOptions{Options: lan.Options{Port: d.cfg.DiscoveryPort}}}}
	}
	r, err := relay.New(relay.Config{
		Upstream: d.cfg.Upstream, Finder: finder,
		Headroom: d.cfg.RelayHeadroom, Idle: time.Duration(d.cfg.RelayIdle),
		Token: d.cfg.UpstreamToken, TLSFingerprint: d.cfg.UpstreamTLSFingerprint,
		ID: d.ident.guid, Host: d.cfg.NodeNameOrHost(), Now: d.opts.Now, Logger: d.logger.With("upstream", d.cfg.Upstream.String()),
	})
	if err != nil {
		return err
	}
	d.relay = r
	return nil
}

// lanFinder finds a relay's upstream on the LAN (upstream = "auto").
type lanFinder struct{ r *discovery.Resolver }

func (f lanFinder) Find(ctx context.Context) ([]string, error) { return f.r.Resolve(ctx) }

// supplier returns what grows the ledger's blocks: the relay, or nil.
func (d *Daemon) supplier() usher.BlockSupplier {
	if d.relay == nil {
		return nil
	}
	return d.relay
}

// runRelay supplies led until the term ends: it backs the local leases the
// ledger kept across a restart, then heartbeats and resizes the blocks.
func (d *Daemon) runRelay(ctx context.Context, led *usher.Ledger) (stop func()) {
	if d.relay == nil {
		return func() {}
	}
	d.relay.Attach(led)
	var held []string
	for _, f := range led.Features() {
		if f.InUse > 0 {
			held = append(held, f.Name)
		}
	}
	d.relay.Adopt(ctx, held)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.relay.Run(ctx, d.opts.RelayTicks)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// closeRelay gives the blocks back upstream: the relay's local leases end.
func (d *Daemon) closeRelay() error {
	if d.relay == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayCloseTimeout)
	defer cancel()
	return d.relay.Close(ctx)
}
