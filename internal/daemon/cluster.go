package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/etcdstore"
)

// ClusterMode reports whether the configuration asks for a cluster: an
// embedded etcd member (peers) or an external etcd (etcd_endpoints).
func (c *Config) ClusterMode() bool { return len(c.Peers) > 0 || len(c.EtcdEndpoints) > 0 }

// Embedded reports whether this node runs an embedded etcd member.
func (c *Config) Embedded() bool { return len(c.Peers) > 0 }

func (c *Config) validateCluster() error {
	if c.EventLimit < 1000 {
		return errors.New("cluster_event_limit: must be at least 1000")
	}
	if !c.ClusterMode() {
		if c.PeerListen != "" || c.EtcdClientListen != "" {
			return errors.New("peer_listen: set peers too (every member as NAME=URL), or remove peer_listen for single-node mode")
		}
		return nil
	}
	switch {
	case c.Dev:
		return errors.New("dev: dev mode runs a single node: remove dev, or remove peers and etcd_endpoints")
	case c.Embedded() && len(c.EtcdEndpoints) > 0:
		return errors.New("etcd_endpoints: set either peers (embedded etcd) or etcd_endpoints (external etcd), not both")
	case (c.EtcdCert == "") != (c.EtcdKey == ""):
		return errors.New("etcd_cert: set etcd_cert and etcd_key together")
	}
	if !c.Embedded() {
		return nil
	}
	if c.EtcdCA != "" || c.EtcdCert != "" {
		return errors.New("etcd_ca: the TLS options apply to an external etcd (etcd_endpoints); the embedded members talk plain HTTP, so keep peer traffic on a private network")
	}
	if c.NodeName == "" {
		return errors.New("node_name: set this node's name, one of the names in peers")
	}
	if c.PeerListen == "" {
		return errors.New("peer_listen: set the HOST:PORT where this node's etcd member talks to its peers")
	}
	peers, err := cluster.ParsePeers(c.Peers)
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	if _, ok := peers[c.NodeName]; !ok {
		return fmt.Errorf("peers: this node (%s) is not in the list: add %s=http://HOST:PORT", c.NodeName, c.NodeName)
	}
	if _, err := c.etcdClientListen(); err != nil {
		return err
	}
	return nil
}

// etcdClientListen returns where the embedded member serves etcd clients:
// etcd_client_listen, else peer_listen's port + 1.
func (c *Config) etcdClientListen() (string, error) {
	if c.EtcdClientListen != "" {
		return c.EtcdClientListen, nil
	}
	host, port, err := net.SplitHostPort(c.PeerListen)
	if err != nil {
		return "", fmt.Errorf("peer_listen: %q is not HOST:PORT", c.PeerListen)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		return "", fmt.Errorf("peer_listen: port %q cannot be followed by an etcd client port: set etcd_client_listen", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

func (c *Config) clusterName() string {
	if c.ClusterName == "" {
		return DefaultClusterName
	}
	return c.ClusterName
}

func (c *Config) nodeName() string {
	if c.NodeName != "" {
		return c.NodeName
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "usher"
	}
	return h
}

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
	d.shared = etcdstore.NewShared(d.etcd, cfg.clusterName())
	// Every node ends up with the first node's admin token.
	shared, err := d.shared.Secret(cctx, "admin_token", token)
	if err != nil {
		return "", fmt.Errorf("%w: check that etcd at %v is up and reachable", err, endpoints)
	}
	if shared != token {
		if err := os.WriteFile(filepath.Join(cfg.Data, TokenFile), []byte(shared+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write the cluster's admin token: %w", err)
		}
		d.logger.Info("adopted the cluster's admin token", "file", filepath.Join(cfg.Data, TokenFile))
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
		Cluster: cfg.clusterName(), NodeName: cfg.nodeName(), URL: d.advertiseURL(), Client: d.etcd,
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
	listen, err := cfg.etcdClientListen()
	if err != nil {
		return nil, err
	}
	self, _ := url.Parse(peers[cfg.NodeName])
	_, port, _ := net.SplitHostPort(listen)
	clientURL := "http://" + net.JoinHostPort(self.Hostname(), port)
	d.logger.Info("starting the embedded etcd member; it serves once a majority of peers is up", "member", cfg.NodeName, "peers", cfg.Peers)
	return cluster.StartMember(ctx, cluster.MemberConfig{
		Name: cfg.NodeName, Dir: filepath.Join(cfg.Data, "etcd"), Cluster: cfg.clusterName(),
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

// getCluster returns one of the cluster keys in the form Set takes; ok is
// false for other keys.
func (c *Config) getCluster(key string) (v string, ok bool) {
	switch key {
	case "cluster_name":
		return c.ClusterName, true
	case "node_name":
		return c.NodeName, true
	case "peer_listen":
		return c.PeerListen, true
	case "peers":
		return strings.Join(c.Peers, ","), true
	case "etcd_client_listen":
		return c.EtcdClientListen, true
	case "etcd_endpoints":
		return strings.Join(c.EtcdEndpoints, ","), true
	case "etcd_ca":
		return c.EtcdCA, true
	case "etcd_cert":
		return c.EtcdCert, true
	case "etcd_key":
		return c.EtcdKey, true
	case "advertise":
		return c.Advertise, true
	case "cluster_event_limit":
		return strconv.Itoa(c.EventLimit), true
	}
	return "", false
}
