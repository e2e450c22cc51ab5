// Package cluster makes Usher's nodes a cluster, of which a single server
// is the one-member case: the electors that hand a node its terms (Local,
// which wins at once on its own store, and Election on etcd, with a store
// fenced by the election key), an embedded etcd member per node, and the
// forwarding middleware through which any node serves clients, sending
// requests to the node that decides with their client's address.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbeddedMaxTxnOps is the --max-txn-ops of embedded members: a node's
// store commits up to this many changes in one transaction.
const EmbeddedMaxTxnOps = 1024

// MemberConfig configures an embedded etcd member.
type MemberConfig struct {
	Name       string // this member's name; a key of Peers
	Dir        string // etcd's data directory
	Cluster    string // cluster name; members of different clusters refuse each other
	PeerListen string // host:port for peer traffic
	ClientURL  string // http://host:port where other nodes reach the member as etcd clients
	// ClientListen is host:port to listen on for etcd clients; default
	// the host and port of ClientURL.
	ClientListen string
	Peers        map[string]string // every member's name to its advertised peer URL
	// TickMs and ElectionMs tune raft; defaults 100 and 1000.
	TickMs, ElectionMs uint
	// Logger receives etcd's errors; default discards.
	Logger *slog.Logger
	// Verbose keeps etcd's own log at info level (default: errors only).
	Verbose bool
}

// Member is a running embedded etcd member.
type Member struct {
	etcd      *embed.Etcd
	clientURL string
}

// ParsePeers parses "n1=http://10.0.0.1:7421,n2=..." into a map.
func ParsePeers(list []string) (map[string]string, error) {
	out := make(map[string]string, len(list))
	for _, p := range list {
		name, u, ok := strings.Cut(p, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("peer %q: want NAME=URL, as n1=http://10.0.0.1:7421", p)
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Port() == "" {
			return nil, fmt.Errorf("peer %s: %q is not a URL like http://10.0.0.1:7421", name, u)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("peer %s is listed twice", name)
		}
		out[name] = u
	}
	return out, nil
}

// StartMember starts an embedded etcd member and waits until it has
// joined its cluster, or ctx ends. A member that finds data in Dir
// restarts from it and ignores Peers; one that finds none but ran before
// (its disk was lost) replaces itself in the cluster (see rejoin).
func StartMember(ctx context.Context, cfg MemberConfig) (*Member, error) {
	ec, err := embedConfig(cfg)
	if err != nil {
		return nil, err
	}
	existing, err := rejoin(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd member %s: %w", cfg.Name, err)
	}
	if existing != "" {
		if cfg.Logger != nil {
			cfg.Logger.Warn("this member's etcd data is gone: it was replaced in the cluster and joins again from its peers", "member", cfg.Name)
		}
		ec.InitialCluster, ec.ClusterState = existing, embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd member %s: %w", cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd member %s: %w", cfg.Name, err)
	case <-ctx.Done():
		e.Server.HardStop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd member %s did not join its cluster (is a majority of the peers up?): %w", cfg.Name, ctx.Err())
	}
	return &Member{etcd: e, clientURL: cfg.ClientURL}, nil
}

func embedConfig(cfg MemberConfig) (*embed.Config, error) {
	self, ok := cfg.Peers[cfg.Name]
	if !ok {
		return nil, fmt.Errorf("peers: this node (%s) is not in the list: add %s=http://HOST:PORT", cfg.Name, cfg.Name)
	}
	apurl, err := url.Parse(self)
	if err != nil {
		return nil, err
	}
	lpurl := url.URL{Scheme: apurl.Scheme, Host: cfg.PeerListen}
	curl, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL %q: %w", cfg.ClientURL, err)
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.Dir
	ec.InitialClusterToken = "usher-" + cfg.Cluster
	ec.ListenPeerUrls = []url.URL{lpurl}
	ec.AdvertisePeerUrls = []url.URL{*apurl}
	lcurl := *curl
	if cfg.ClientListen != "" {
		lcurl.Host = cfg.ClientListen
	}
	ec.ListenClientUrls = []url.URL{lcurl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	names := make([]string, 0, len(cfg.Peers))
	for n := range cfg.Peers {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + cfg.Peers[n]
	}
	ec.InitialCluster = strings.Join(parts, ",")
	ec.ClusterState = embed.ClusterStateFlagNew
	if cfg.TickMs > 0 {
		ec.TickMs = cfg.TickMs
	}
	if cfg.ElectionMs > 0 {
		ec.ElectionMs = cfg.ElectionMs
	}
	ec.MaxTxnOps = EmbeddedMaxTxnOps
	// Every checkout writes a revision; keep one minute of them so that
	// the database stays small under sustained load.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1m"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if cfg.Verbose {
		ec.ZapLoggerBuilder = nil
		ec.LogLevel = "info"
	}
	return ec, nil
}

// ClientURL returns where the member serves etcd clients.
func (m *Member) ClientURL() string { return m.clientURL }

// Close stops the member gracefully, handing raft leadership to a peer.
// Raft stops first, so that requests still waiting for a quorum fail at
// once instead of holding the shutdown for etcd's request timeout.
func (m *Member) Close() {
	m.etcd.Server.Stop()
	m.etcd.Close()
}

// Kill stops the member abruptly, as a crash would: no leadership
// transfer, connections dropped. Tests use it for kill -9.
func (m *Member) Kill() {
	m.etcd.Server.HardStop()
	m.etcd.Close()
}
