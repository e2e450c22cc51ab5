package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/usher-lm/usher/internal/etcdstore"
)

// DefaultSessionTTL is how long, in seconds, a decider that stops
// renewing its etcd session keeps its role. With raft's default one second
// election timeout, a crashed decider is replaced within about three
// seconds.
const DefaultSessionTTL = 2

// handOffInterval is how often a deciding node with an embedded member
// checks that it does not lead raft.
const handOffInterval = 3 * time.Second

// ElectionConfig configures an Election.
type ElectionConfig struct {
	Cluster    string           // cluster name: the key prefix in etcd
	Self       Peer             // this node, as written in the election
	Client     *clientv3.Client // connected to the cluster's etcd
	SessionTTL int              // seconds; default DefaultSessionTTL
	Logger     *slog.Logger     // default discards
	// AvoidRaftLeadership asks the etcd member behind Client to hand raft
	// leadership to a peer while this node decides. With an embedded
	// member, a crash of the deciding node then never also costs a raft
	// election, which keeps failover within the session TTL.
	AvoidRaftLeadership bool
	// MaxTxnOps is passed to the store (see etcdstore.Options).
	MaxTxnOps int
}

// Election is the elector of a cluster node on etcd: a term is won through
// an etcd election, lasts as long as the node's etcd session, and hands
// out a store fenced by the election key.
type Election struct {
	cfg    ElectionConfig
	logger *slog.Logger
}

// NewElection returns the elector of a node of a cluster on etcd.
func NewElection(cfg ElectionConfig) (*Election, error) {
	if cfg.Client == nil || cfg.Self.Node == "" || cfg.Cluster == "" {
		return nil, errors.New("cluster election: client, node name and cluster name are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Election{cfg: cfg, logger: cfg.Logger}, nil
}

// prefix is where the nodes campaign.
func (e *Election) prefix() string { return etcdstore.Prefix(e.cfg.Cluster) + "election" }

// Campaign blocks until this node wins the election or ctx ends, and
// returns its term. The term ends when the node's etcd session does, or a
// write of its store fails (another node took over).
func (e *Election) Campaign(ctx context.Context) (*Term, error) {
	cli := e.cfg.Client
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(e.cfg.SessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("open etcd session: %w", err)
	}
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the term ends when the session does
		defer wg.Done()
		select {
		case <-sess.Done():
			cancel()
		case <-tctx.Done():
		}
	}()
	resign := func() {
		cancel()
		wg.Wait()
		// Closing the session revokes its lease, which deletes the
		// election key: every write still in flight under the old fence
		// then fails. Revoke even when the node is closing (ctx done), so
		// the next node can win at once instead of after the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		defer rcancel()
		_, _ = cli.Revoke(rctx, sess.Lease())
		sess.Close()
	}
	el := concurrency.NewElection(sess, e.prefix())
	val, _ := json.Marshal(leaderValue{Node: e.cfg.Self.Node, URL: e.cfg.Self.URL})
	if err := el.Campaign(tctx, string(val)); err != nil {
		resign()
		return nil, fmt.Errorf("campaign: %w", err)
	}
	fence := etcdstore.Fence{Key: el.Key(), Revision: el.Rev()}
	e.logger.Info("won the election: this node now decides for the cluster", "fence_revision", fence.Revision)
	return e.term(tctx, cancel, fence, resign), nil
}

// term builds the term won under fence: its fenced store, and the raft
// hand-off while it lasts.
func (e *Election) term(ctx context.Context, cancel context.CancelFunc, fence etcdstore.Fence, resign func()) *Term {
	store := etcdstore.New(e.cfg.Client, etcdstore.Options{
		Cluster: e.cfg.Cluster, Fence: &fence, MaxTxnOps: e.cfg.MaxTxnOps, Logger: e.logger,
		OnFailure: func(err error) {
			e.logger.Info("a fenced write failed: the term ends", "err", err)
			cancel()
		},
	})
	var wg sync.WaitGroup
	if e.cfg.AvoidRaftLeadership {
		e.handOffRaftLeadership(ctx) // before any write: a transfer drops proposals
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.keepHandingOff(ctx)
		}()
	}
	return &Term{
		Store: store, ctx: ctx,
		confirm: func(ctx context.Context) error { return e.confirm(ctx, fence) },
		end: func() {
			cancel()
			wg.Wait()
			store.Close()
			resign()
			e.logger.Info("this node stopped deciding")
		},
	}
}

// keepHandingOff hands raft leadership off every handOffInterval until ctx
// ends: etcd may elect the local member again.
func (e *Election) keepHandingOff(ctx context.Context) {
	t := time.NewTicker(handOffInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.handOffRaftLeadership(ctx)
		}
	}
}

// errLostTerm is Confirm's answer once the election key is gone or
// another's.
var errLostTerm = errors.New("this node no longer holds the election key")

// confirm checks with a linearizable read that this node still holds the
// election key of its term.
func (e *Election) confirm(ctx context.Context, fence etcdstore.Fence) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := e.cfg.Client.Get(ctx, fence.Key)
	if err != nil {
		return fmt.Errorf("read the election key: %w", err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].CreateRevision != fence.Revision {
		return errLostTerm
	}
	return nil
}

// leaderValue is what the decider writes under the election key.
type leaderValue struct {
	Node string `json:"node"`
	URL  string `json:"url"`
}

// Decider returns the node that decides now, as written in the election;
// ok is false while nobody does.
func (e *Election) Decider(ctx context.Context) (Peer, bool, error) {
	resp, err := e.cfg.Client.Get(ctx, e.prefix()+"/", append(clientv3.WithFirstCreate(), clientv3.WithPrefix())...)
	if err != nil {
		return Peer{}, false, err
	}
	if len(resp.Kvs) == 0 {
		return Peer{}, false, nil
	}
	var v leaderValue
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return Peer{}, false, fmt.Errorf("election value: %w", err)
	}
	return Peer(v), true, nil
}

// Follow calls fn with the decider after every change of the election,
// until ctx ends. When the watch breaks (this node lost etcd's leader, or
// its connection) it reads the election again every half second.
func (e *Election) Follow(ctx context.Context, fn func(Peer, bool, error)) {
	var last Peer
	refresh := func() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		p, ok, err := e.Decider(rctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil && p != last {
			e.logger.Debug("the deciding node changed", "decider", p.Node, "url", p.URL)
			last = p
		}
		fn(p, ok, err)
	}
	refresh()
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range e.cfg.Client.Watch(wctx, e.prefix()+"/", clientv3.WithPrefix()) {
			if resp.Err() != nil {
				break
			}
			refresh()
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		refresh()
	}
}

// handOffRaftLeadership moves raft leadership from the local etcd member
// to a peer, if the local member leads.
func (e *Election) handOffRaftLeadership(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cli := e.cfg.Client
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
			e.logger.Info("handed etcd raft leadership to a peer, so a crash of the deciding node costs no raft election", "member", m.Name)
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
