package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/etcdstore"
	"github.com/usher-lm/usher/internal/httpapi"
)

// DefaultSessionTTL is how long, in seconds, a decider that stops
// renewing its etcd session keeps its role. With raft's default one second
// election timeout, a crashed decider is replaced within about three
// seconds.
const DefaultSessionTTL = 2

// Config configures a Node.
type Config struct {
	Cluster  string           // cluster name: the key prefix in etcd
	NodeName string           // this node's name, shown in the status
	URL      string           // where other nodes reach this node's API
	Client   *clientv3.Client // connected to the cluster's etcd
	Keyring  *usher.Keyring
	// AdminToken is the cluster's shared admin token (etcdstore.Shared); it
	// guards the cluster status.
	AdminToken string
	// NewAPI builds the HTTP API over the ledger of a term; default the
	// API with AdminToken as its only credential.
	NewAPI func(*usher.Ledger) http.Handler
	// KeepaliveTimeout and ScanInterval are the ledger's keep-alive window
	// and how often the decider reclaims expired leases, at the start;
	// SetKeepalive changes them.
	KeepaliveTimeout time.Duration
	ScanInterval     time.Duration
	SessionTTL       int              // seconds; default DefaultSessionTTL
	Now              func() time.Time // default time.Now
	Logger           *slog.Logger     // default discards
	// Observer receives the events of the ledger while this node decides.
	Observer usher.Observer
	// AvoidRaftLeadership asks the etcd member behind Client to hand raft
	// leadership to a peer while this node decides. With an embedded
	// member, a crash of the deciding node then never also costs a raft
	// election, which keeps failover within the session TTL.
	AvoidRaftLeadership bool
	// MaxTxnOps is passed to the store (see etcdstore.Options).
	MaxTxnOps int
}

// Node is one Usher node of a cluster. It campaigns to decide; while it
// decides it serves a Ledger on a fenced etcd store, and otherwise it
// forwards API requests to the node that decides.
type Node struct {
	cfg    Config
	logger *slog.Logger
	fwd    *forwarder

	mu   sync.Mutex
	term *term // nil unless this node decides

	keepalive atomic.Int64 // time.Duration: the keep-alive window of the next term
	scan      atomic.Int64 // time.Duration: how often the decider reclaims

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// term is one period during which this node decides.
type term struct {
	ctx    context.Context // ends with the term
	ledger *usher.Ledger
	api    http.Handler
	store  *etcdstore.Store
	fence  etcdstore.Fence
}

// leaderValue is what the decider writes under the election key.
type leaderValue struct {
	Node string `json:"node"`
	URL  string `json:"url"`
}

// Start starts campaigning and returns at once; the node serves as a
// forwarder until it wins. Close stops it.
func Start(cfg Config) (*Node, error) {
	if cfg.Client == nil || cfg.Keyring == nil || cfg.NodeName == "" || cfg.Cluster == "" {
		return nil, errors.New("cluster node: client, keyring, node name and cluster name are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, logger: cfg.Logger.With("node", cfg.NodeName)}
	n.keepalive.Store(int64(cfg.KeepaliveTimeout))
	n.scan.Store(int64(cfg.ScanInterval))
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.fwd = newForwarder(n)
	n.wg.Add(2)
	go n.campaign()
	go func() {
		defer n.wg.Done()
		n.fwd.watch(n.ctx)
	}()
	return n, nil
}

// newAPI builds the API of a term.
func (n *Node) newAPI(led *usher.Ledger) http.Handler {
	if n.cfg.NewAPI != nil {
		return n.cfg.NewAPI(led)
	}
	return httpapi.NewServer(httpapi.Config{Ledger: led, AdminToken: n.cfg.AdminToken, Logger: n.logger})
}

// electionPrefix is where the nodes campaign.
func (n *Node) electionPrefix() string { return etcdstore.Prefix(n.cfg.Cluster) + "election" }

// Close stops deciding (resigning, so another node takes over at once)
// and stops campaigning. It does not close the etcd client. Safe to call
// twice.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		n.fwd.close()
	})
	return nil
}

// Ledger returns the ledger while this node decides, else nil.
func (n *Node) Ledger() *usher.Ledger {
	if t := n.current(); t != nil {
		return t.ledger
	}
	return nil
}

// Deciding reports whether this node decides now.
func (n *Node) Deciding() bool { return n.current() != nil }

func (n *Node) current() *term {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.term
}

func (n *Node) setTerm(t *term) {
	n.mu.Lock()
	n.term = t
	n.mu.Unlock()
}

// campaign runs until Close: win the election, decide until the session
// or a write fails, start over.
func (n *Node) campaign() {
	defer n.wg.Done()
	for n.ctx.Err() == nil {
		if err := n.runOnce(); err != nil && n.ctx.Err() == nil {
			n.logger.Warn("cluster election", "err", err)
			select {
			case <-n.ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// runOnce campaigns with a fresh session and decides until the term ends.
func (n *Node) runOnce() error {
	sess, err := concurrency.NewSession(n.cfg.Client, concurrency.WithTTL(n.cfg.SessionTTL), concurrency.WithContext(n.ctx))
	if err != nil {
		return fmt.Errorf("open etcd session: %w", err)
	}
	// Closing the session revokes its lease, which deletes the election
	// key: every write still in flight under the old fence then fails.
	defer func() {
		// Revoke even when the node is closing (and n.ctx is done), so the
		// next node can win at once instead of after the TTL.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = n.cfg.Client.Revoke(rctx, sess.Lease())
		sess.Close()
	}()
	ctx, cancel := context.WithCancel(n.ctx)
	var watch sync.WaitGroup
	defer watch.Wait()
	defer cancel()
	watch.Add(1)
	go func() { // the term ends when the session does
		defer watch.Done()
		select {
		case <-sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, n.electionPrefix())
	val, _ := json.Marshal(leaderValue{Node: n.cfg.NodeName, URL: n.cfg.URL})
	if err := el.Campaign(ctx, string(val)); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	n.logger.Info("this node now decides for the cluster", "fence_revision", el.Rev())
	err = n.decide(ctx, cancel, el)
	n.logger.Info("this node stopped deciding", "reason", err)
	return nil
}

// decide serves a fresh ledger on a store fenced by the election key until
// ctx ends or a write fails.
func (n *Node) decide(ctx context.Context, cancel context.CancelFunc, el *concurrency.Election) error {
	var failure error
	var failOnce sync.Once
	store := etcdstore.New(n.cfg.Client, etcdstore.Options{
		Cluster:   n.cfg.Cluster,
		Fence:     &etcdstore.Fence{Key: el.Key(), Revision: el.Rev()},
		MaxTxnOps: n.cfg.MaxTxnOps,
		Logger:    n.logger,
		OnFailure: func(err error) {
			failOnce.Do(func() { failure = err })
			cancel()
		},
	})
	defer store.Close()
	if n.cfg.AvoidRaftLeadership {
		n.handOffRaftLeadership(ctx) // before any write: a transfer drops proposals
	}
	led, err := usher.OpenLedger(ctx, usher.LedgerConfig{
		Store: store, Keyring: n.cfg.Keyring, KeepaliveTimeout: time.Duration(n.keepalive.Load()),
		Now: n.cfg.Now, Logger: n.logger, Observer: n.cfg.Observer,
	})
	if err != nil {
		return err
	}
	t := &term{ctx: ctx, ledger: led, store: store, fence: etcdstore.Fence{Key: el.Key(), Revision: el.Rev()},
		api: n.newAPI(led)}
	n.setTerm(t)
	defer n.setTerm(nil)
	// In case SetKeepalive ran while the ledger was loading.
	if err := led.SetKeepaliveTimeout(time.Duration(n.keepalive.Load())); err != nil {
		n.logger.Warn("keep-alive timeout", "err", err)
	}
	n.sweep(ctx, led)
	if failure != nil {
		return failure
	}
	return ctx.Err()
}

// SetKeepalive changes the keep-alive window and the reclaim interval: at
// once if this node decides, and for every term it decides later.
func (n *Node) SetKeepalive(timeout, scan time.Duration) error {
	n.keepalive.Store(int64(timeout))
	if scan > 0 {
		n.scan.Store(int64(scan))
	}
	if led := n.Ledger(); led != nil {
		return led.SetKeepaliveTimeout(timeout)
	}
	return nil
}

// sweep reclaims expired leases every scan interval until ctx ends.
func (n *Node) sweep(ctx context.Context, led *usher.Ledger) {
	tick := time.NewTimer(time.Duration(n.scan.Load()))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			tick.Reset(time.Duration(n.scan.Load()))
		}
		if n.cfg.AvoidRaftLeadership {
			n.handOffRaftLeadership(ctx)
		}
		ended, err := led.Reclaim(ctx)
		if err != nil {
			n.logger.Error("reclaim expired leases", "err", err)
		}
		for _, l := range ended {
			n.logger.Info("lease expired", "lease", l.ID, "feature", usher.LogSafe(l.Feature), "client", usher.LogSafe(l.Client.ID))
		}
	}
}

// decider returns the node that decides now, as written in the election.
func (n *Node) decider(ctx context.Context) (leaderValue, bool, error) {
	resp, err := n.cfg.Client.Get(ctx, n.electionPrefix()+"/", append(clientv3.WithFirstCreate(), clientv3.WithPrefix())...)
	if err != nil {
		return leaderValue{}, false, err
	}
	if len(resp.Kvs) == 0 {
		return leaderValue{}, false, nil
	}
	var v leaderValue
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return leaderValue{}, false, fmt.Errorf("election value: %w", err)
	}
	return v, true, nil
}

// handOffRaftLeadership moves raft leadership from the local etcd member
// to a peer, if the local member leads.
func (n *Node) handOffRaftLeadership(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cli := n.cfg.Client
	eps := cli.Endpoints()
	if len(eps) != 1 {
		return
	}
	st, err := cli.Status(ctx, eps[0])
	if err != nil || st.Leader != st.Header.MemberId {
		return
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return
	}
	for _, m := range ml.Members {
		if m.ID == st.Header.MemberId || m.IsLearner || len(m.ClientURLs) == 0 {
			continue
		}
		// A transfer to a member that is down (the decider that just
		// died, in a failover) waits out the whole timeout: see first
		// that it takes connections. Only that: an etcd request to a
		// member shutting down can crash it, and in tests every member
		// shares one process.
		if !reachable(ctx, m.ClientURLs[0]) {
			continue
		}
		if _, err := cli.MoveLeader(ctx, m.ID); err == nil {
			n.logger.Info("handed etcd raft leadership to a peer, so a crash of the deciding node costs no raft election", "member", m.Name)
			return
		}
	}
}

// reachable reports whether the server at rawURL accepts a connection
// within 300 ms.
func reachable(ctx context.Context, rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// confirm checks with a linearizable read that this node still holds the
// election key of term t. An answer computed from memory alone (a refused
// checkout) is sent only once confirmed: a node that lost its role
// without noticing yet could otherwise refuse a seat that another node
// has freed meanwhile.
func (n *Node) confirm(ctx context.Context, t *term) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := n.cfg.Client.Get(ctx, t.fence.Key)
	return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == t.fence.Revision
}
