package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/etcdstore"
)

// openCluster opens a cluster node's backing: it starts the embedded etcd
// member (if any) and connects to etcd, which keeps the leases, users,
// tokens, settings and history of every node.
func (d *Daemon) openCluster(ctx context.Context) (_ *backing, err error) {
	cfg := d.cfg
	b := &backing{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	var member *cluster.Member
	var etcd *clientv3.Client
	b.close = func() error {
		var err error
		if etcd != nil {
			err = etcd.Close()
		}
		if member != nil {
			member.Close()
		}
		return err
	}
	endpoints := cfg.EtcdEndpoints
	if cfg.Embedded() {
		if member, err = d.startMember(ctx); err != nil {
			return nil, err
		}
		endpoints = []string{member.ClientURL()}
	}
	if etcd, err = d.dialEtcd(endpoints); err != nil {
		return nil, err
	}
	shared := etcdstore.NewShared(etcd, cfg.ClusterNameOrDefault())
	b.settings, b.users, b.watchSettings = shared, shared, shared.WatchSettings
	b.clock = shared    // clockwatch.go
	b.webhooks = shared // webhooks.go
	b.share = func(ctx context.Context, name, mine string) (string, error) {
		v, err := shared.Secret(ctx, name, mine)
		if err != nil {
			return "", fmt.Errorf("%w: check that etcd at %v is up and reachable", err, endpoints)
		}
		return v, nil
	}
	// A cluster keeps its history in etcd, where it survives the loss of
	// any node and every node reads the same.
	b.history = etcdstore.NewHistory(etcd, etcdstore.HistoryOptions{Cluster: cfg.ClusterNameOrDefault(), MaxEvents: int64(cfg.EventLimit)})
	b.sharedLog = true
	b.abort = func() { etcd.Close() }
	b.kill = func() {
		etcd.Close() // the session's keep-alives stop, as in a crash
		if m := member; m != nil {
			member = nil
			m.Kill()
		}
	}
	ecfg := cluster.ElectionConfig{Cluster: cfg.ClusterNameOrDefault(), Self: cluster.Peer{Node: cfg.NodeNameOrHost(), URL: d.advertiseURL()},
		Client: etcd, Logger: d.logger.With("node", cfg.NodeNameOrHost()), AvoidRaftLeadership: cfg.Embedded()}
	if cfg.Embedded() {
		ecfg.MaxTxnOps = cluster.EmbeddedMaxTxnOps
	}
	b.identityLock = &cluster.IdentityLock{Client: etcd, Cluster: cfg.ClusterNameOrDefault(), Node: cfg.NodeNameOrHost()}
	if b.elector, err = cluster.NewElection(ecfg); err != nil {
		return nil, err
	}
	return b, nil
}

// dialEtcd connects to etcd at endpoints.
func (d *Daemon) dialEtcd(endpoints []string) (*clientv3.Client, error) {
	tlsCfg, err := d.etcdTLS()
	if err != nil {
		return nil, err
	}
	etcd, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsCfg,
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd at %v: %w", endpoints, err)
	}
	return etcd, nil
}

func (d *Daemon) startMember(ctx context.Context) (*cluster.Member, error) {
	cfg := d.cfg
	peers, err := cluster.ParsePeers(cfg.Peers)
	if err != nil {
		return nil, err
	}
	listen, err := cfg.EtcdClientAddr()
	if err != nil {
		return nil, err
	}
	self, _ := url.Parse(peers[cfg.NodeName])
	_, port, _ := net.SplitHostPort(listen)
	clientURL := "http://" + net.JoinHostPort(self.Hostname(), port)
	d.logger.Info("starting the embedded etcd member; it serves once a majority of peers is up", "member", cfg.NodeName, "peers", cfg.Peers)
	return cluster.StartMember(ctx, cluster.MemberConfig{
		Name: cfg.NodeName, Dir: filepath.Join(cfg.Data, "etcd"), Cluster: cfg.ClusterNameOrDefault(),
		PeerListen: cfg.PeerListen, ClientURL: clientURL, ClientListen: listen, Peers: peers,
		Logger: d.logger,
	})
}

// etcdTLS builds the TLS configuration for an external etcd, or nil.
func (d *Daemon) etcdTLS() (*tls.Config, error) {
	cfg := d.cfg
	if cfg.EtcdCA == "" && cfg.EtcdCert == "" {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: cfg.EtcdCA, CertFile: cfg.EtcdCert, KeyFile: cfg.EtcdKey}
	t, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w: check etcd_ca, etcd_cert and etcd_key", err)
	}
	return t, nil
}

// advertiseURL is where the other nodes forward requests to this node:
// advertise if set, else the first listener's address, with the host of
// peer_listen (or the host name) when it listens on every interface.
func (d *Daemon) advertiseURL() string {
	if d.cfg.Advertise != "" {
		return d.cfg.Advertise
	}
	addr := d.listeners[0].Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host, _ = os.Hostname()
		if peers, err := cluster.ParsePeers(d.cfg.Peers); err == nil {
			if u, err := url.Parse(peers[d.cfg.NodeName]); err == nil && u.Hostname() != "" {
				host = u.Hostname()
			}
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Kill stops the daemon as a crash would: the embedded etcd member stops
// without handing over raft leadership, connections drop, and the node
// does not resign, so the others wait for its session to expire. Tests use
// it for kill -9. For a single node it is Close.
func (d *Daemon) Kill() {
	for _, srv := range d.servers {
		srv.Close()
	}
	if d.back != nil {
		d.back.kill()
	}
	if d.relay != nil {
		d.relay.Abandon() // relay.go: the upstream reclaims the blocks
	}
	d.Close()
}
