package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/etcdstore"
)

// joinCluster starts the embedded member (if any) and connects to etcd. It
// returns the cluster's shared admin token, which replaces this node's.
func (d *Daemon) joinCluster(ctx context.Context, token string) (string, error) {
	cfg := d.cfg
	endpoints := cfg.EtcdEndpoints
	if cfg.Embedded() {
		m, err := d.startMember(ctx)
		if err != nil {
			return "", err
		}
		d.member = m
		endpoints = []string{m.ClientURL()}
	}
	tlsCfg, err := d.etcdTLS()
	if err != nil {
		return "", err
	}
	d.etcd, err = clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsCfg,
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return "", fmt.Errorf("connect to etcd at %v: %w", endpoints, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d.shared = etcdstore.NewShared(d.etcd, cfg.ClusterNameOrDefault())
	// Every node ends up with the first node's admin token.
	shared, err := d.shared.Secret(cctx, "admin_token", token)
	if err != nil {
		return "", fmt.Errorf("%w: check that etcd at %v is up and reachable", err, endpoints)
	}
	if shared != token {
		if err := os.WriteFile(filepath.Join(cfg.Data, TokenFile), []byte(shared+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write the cluster's admin token: %w", err)
		}
	}
	return shared, nil
}

// startNode listens and starts this node's campaign to decide; newAPI
// builds the API over the ledger of each term this node decides.
func (d *Daemon) startNode(keys *usher.Keyring, token string, newAPI func(*usher.Ledger) http.Handler) error {
	cfg := d.cfg
	if err := d.bind(); err != nil {
		return err
	}
	ncfg := cluster.Config{
		Cluster: cfg.ClusterNameOrDefault(), NodeName: cfg.NodeNameOrHost(), URL: d.advertiseURL(), Client: d.etcd,
		Keyring: keys, AdminToken: token, NewAPI: newAPI, Observer: d.observer(),
		KeepaliveTimeout: time.Duration(cfg.KeepaliveTimeout), ScanInterval: time.Duration(cfg.KeepaliveScanInterval),
		Now: d.opts.Now, Logger: d.logger, AvoidRaftLeadership: cfg.Embedded(),
	}
	if cfg.Embedded() {
		ncfg.MaxTxnOps = cluster.EmbeddedMaxTxnOps
	}
	node, err := cluster.Start(ncfg)
	if err != nil {
		return err
	}
	d.rt.node.Store(node)
	d.serve(node)
	return nil
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

// Node returns the cluster node, or nil in single-node mode.
func (d *Daemon) Node() *cluster.Node { return d.rt.node.Load() }

// Kill stops the daemon as a crash would: the embedded etcd member stops
// without handing over raft leadership, connections drop, and the node
// does not resign, so the others wait for its session to expire. Tests use
// it for kill -9. In single-node mode it is Close.
func (d *Daemon) Kill() {
	for _, srv := range d.servers {
		srv.Close()
	}
	if d.etcd != nil {
		d.etcd.Close() // the session's keep-alives stop, as in a crash
	}
	if m := d.member; m != nil {
		d.member = nil
		m.Kill()
	}
	d.Close()
}
