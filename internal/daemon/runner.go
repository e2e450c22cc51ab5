package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/wire"
)

// A node runs the same way alone and in a cluster (a single node is a
// one-member cluster): it campaigns through its elector; for each term it
// wins it opens the ledger on the term's store, serves and sweeps it until
// the term ends, then campaigns again. While it does not decide, the API
// forwards requests to the node that does.

// termState is the term this node decides in, and its ledger.
type termState struct {
	term   *cluster.Term
	ledger *usher.Ledger
}

// runnerState is the runner's part of runtimeState.
type runnerState struct {
	readyOnce sync.Once
	ready     chan struct{} // closed once this node knows who decides
	readyErr  error         // why this node's first term failed, if it did
	stopped   chan struct{} // closed when the campaign loop has ended
}

// nodeStopTimeout is how long Close waits for the term to end before it
// cuts the connection under it.
const nodeStopTimeout = 3 * time.Second

// run builds the one API, starts the campaign loop and the forwarder, and
// serves once this node knows who decides.
func (d *Daemon) run(ctx context.Context) error {
	d.rt.run = runnerState{ready: make(chan struct{}), stopped: make(chan struct{})}
	self := cluster.Peer{Node: d.cfg.NodeNameOrHost()}
	secret, err := d.back.share(ctx, "forward_secret", randomSecret())
	if err != nil {
		return err
	}
	fwd := cluster.NewForwarder(cluster.ForwarderConfig{
		Self: self, Directory: readyDirectory{d.back.elector, d, self.Node}, Secret: []byte(secret),
		Deciding: d.termContext, Logger: d.logger,
		WriteError: func(w http.ResponseWriter, r *http.Request, err error) { httpapi.WriteError(w, r, d.logger, err) },
	})
	cfg := d.apiConfig(nil, d.authority, d.opts.Now)
	cfg.Node, cfg.Forward, cfg.Cluster = self.Node, fwd.Forward, clusterSource{d.back.elector}
	d.api = httpapi.NewServer(cfg)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		fwd.Run(d.ctx)
	}()
	go func() {
		defer d.wg.Done()
		d.back.watchSettings(d.ctx, d.applyShared)
	}()
	go d.campaign()
	// Serve once this node knows who decides, so that a client's first
	// request (or a health check) finds the ledger open.
	if err := d.waitReady(ctx); err != nil {
		return err
	}
	d.serve(fwd.Accept(d.metrics.InstrumentHandler(d.api)))
	return nil
}

// waitReady waits until this node knows who decides, and returns the
// error of its first term if that failed to open.
func (d *Daemon) waitReady(ctx context.Context) error {
	select {
	case <-d.rt.run.ready:
		return d.rt.run.readyErr
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(startWait):
		d.logger.Warn("no node decides yet: serving, and answering unavailable until one does", "waited", startWait)
		return nil
	}
}

// setReady records that this node knows who decides, or why its first
// term failed.
func (d *Daemon) setReady(err error) {
	d.rt.run.readyOnce.Do(func() {
		d.rt.run.readyErr = err
		close(d.rt.run.ready)
	})
}

// campaign runs until Close: win a term, decide until it ends, start over.
func (d *Daemon) campaign() {
	defer close(d.rt.run.stopped)
	for d.ctx.Err() == nil {
		t, err := d.back.elector.Campaign(d.ctx)
		if err != nil {
			if d.ctx.Err() == nil {
				d.logger.Warn("election", "err", err)
				select {
				case <-d.ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
			continue
		}
		err = d.decide(t)
		t.End()
		if d.ctx.Err() == nil {
			d.logger.Info("term ended: campaigning again", "reason", err)
		}
	}
}

// decide opens the ledger on the term's store, serves it and sweeps it
// until the term ends.
func (d *Daemon) decide(t *cluster.Term) error {
	d.rt.mu.Lock()
	keepalive := time.Duration(d.cfg.KeepaliveTimeout)
	d.rt.mu.Unlock()
	self, gate := d.ledgerIdentity()
	led, err := usher.OpenLedger(t.Context(), usher.LedgerConfig{
		Store: d.metrics.InstrumentStore(t.Store), Keyring: d.keys, KeepaliveTimeout: keepalive,
		Now: d.opts.Now, Logger: d.logger, Observer: d.observer(), Confirmer: t, Limits: d.cfg.AddressLimits(),
		Identity: self, Gate: gate, HardwareKey: d.hardwareKeyGate(), Policy: d.refreshPolicy(t.Context()),
		ClockGuard: d.clockGuard(), Supplier: d.supplier(),
	})
	if err != nil {
		err = fmt.Errorf("open the ledger: %w", err)
		d.setReady(err)
		return err
	}
	// Bound licenses are served only while this node holds the identity
	// locks (identitylock.go); it takes them before it serves.
	defer d.holdIdentity(t.Context())()
	// Take the users and tokens that other nodes changed meanwhile.
	if err := d.authority.Reload(t.Context()); err != nil {
		d.logger.Error("reload users and API tokens", "err", err)
	}
	d.api.SetLedger(led)
	d.rt.term.Store(&termState{term: t, ledger: led})
	defer d.rt.term.Store(nil)
	led.SetPolicy(d.pol.current().policy) // in case it changed while the ledger was loading
	if d.cfg.Dev {
		if err := d.addDemoLicense(t.Context()); err != nil {
			err = fmt.Errorf("dev mode: %w", err)
			d.setReady(err)
			return err
		}
	}
	d.rt.mu.Lock()
	d.applyLive() // in case a setting changed while the ledger was loading
	d.rt.mu.Unlock()
	stopRelay := d.runRelay(t.Context(), led) // relay.go: before serving, it backs the leases kept
	d.logger.Debug("serving the ledger of this term")
	d.setReady(nil)
	stopRenewals := d.startRenewals(t.Context(), led) // renewal.go
	stopWebhooks := d.startWebhooks(t.Context())      // webhooks.go
	d.sweep(t, led)
	stopWebhooks()
	stopRelay()
	stopRenewals()
	return context.Cause(t.Context())
}

// sweep reclaims expired leases every keepalive_scan_interval until the
// term ends.
func (d *Daemon) sweep(t *cluster.Term, led *usher.Ledger) {
	d.rt.mu.Lock()
	interval := time.Duration(d.cfg.KeepaliveScanInterval)
	d.rt.mu.Unlock()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.Done():
			return
		case iv := <-d.rt.scan:
			tick.Reset(iv)
			continue
		case <-tick.C:
		}
		ended, err := led.Reclaim(t.Context())
		if err != nil {
			d.logger.Error("reclaim expired leases", "err", err)
		}
		for _, l := range ended {
			d.logger.Info("lease expired", "lease", l.ID, "feature", usher.LogSafe(l.Feature), "client", usher.LogSafe(l.Client.ID))
		}
	}
}

// stopRunner waits for the campaign loop to end (Close cancelled it), and
// cuts the connection under the term if it does not end in time.
func (d *Daemon) stopRunner() {
	stopped := d.rt.run.stopped
	if stopped == nil {
		return
	}
	select {
	case <-stopped:
		return
	case <-time.After(nodeStopTimeout):
	}
	// An election cancelled while waiting resigns through etcd without a
	// deadline: without a quorum (the last node of a cluster going down)
	// only closing the client ends it.
	d.logger.Warn("node still stopping: closing the etcd connection under it")
	d.back.abort()
	<-stopped
}

// termContext returns the context of the term while this node decides,
// and nil otherwise.
func (d *Daemon) termContext() context.Context {
	if s := d.rt.term.Load(); s != nil {
		return s.term.Context()
	}
	return nil
}

// Ledger returns the ledger of the term this node decides in, and nil
// while it does not decide (a node of a cluster forwarding to another).
func (d *Daemon) Ledger() *usher.Ledger {
	if s := d.rt.term.Load(); s != nil {
		return s.ledger
	}
	return nil
}

// Deciding reports whether this node decides now. A single node always
// does once started.
func (d *Daemon) Deciding() bool { return d.rt.term.Load() != nil }

// readyDirectory tells the daemon it is ready once it learns that another
// node decides.
type readyDirectory struct {
	Elector
	d    *Daemon
	self string
}

func (r readyDirectory) Follow(ctx context.Context, fn func(cluster.Peer, bool, error)) {
	r.Elector.Follow(ctx, func(p cluster.Peer, ok bool, err error) {
		if err == nil && ok && p.Node != r.self {
			r.d.setReady(nil)
		}
		fn(p, ok, err)
	})
}

// clusterSource reports the elector's status in the API's form.
type clusterSource struct{ el Elector }

func (c clusterSource) ClusterStatus(ctx context.Context) (wire.ClusterStatus, error) {
	st, err := c.el.Status(ctx)
	if err != nil {
		return wire.ClusterStatus{}, err
	}
	out := wire.ClusterStatus{Cluster: st.Cluster, Node: st.Node, Decider: st.Decider.Node, DeciderURL: st.Decider.URL,
		EtcdLeader: st.EtcdLeader, Members: make([]wire.ClusterMember, len(st.Members)), Error: st.Error}
	for i, m := range st.Members {
		out.Members[i] = wire.ClusterMember{Name: m.Name, ID: m.ID, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs,
			Healthy: m.Healthy, Leader: m.Leader, RaftTerm: m.RaftTerm, RaftIndex: m.RaftIndex,
			RaftApplied: m.RaftApplied, Lag: m.Lag, Error: m.Error}
	}
	return out, nil
}

// randomSecret returns a fresh secret for the nodes to share.
func randomSecret() string { return rand.Text() + rand.Text() }
