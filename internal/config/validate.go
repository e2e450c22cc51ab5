package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/usher-lm/usher/internal/cluster"
)

// Validate reports the first setting that cannot work, naming its key:
// first each key's own rule, then the rules between keys.
func (c *Config) Validate() error {
	for _, k := range registry {
		if k.check == nil {
			continue
		}
		if err := k.check(c.value(k)); err != nil {
			return fmt.Errorf("%s: %w", k.name(), err)
		}
	}
	for _, check := range []func() error{c.validateRequired, c.validateDev, c.validateKeepalive, c.validateSecurity, c.validateCluster, c.validateWebhooks, c.validateRelay} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateRequired() error {
	switch {
	case c.Data == "" && !c.Dev:
		return errors.New("data: no data directory set: use --data DIR (or data = \"DIR\" in the config file)")
	case len(c.VendorKey) == 0 && !c.Dev && !c.IsRelay():
		return errors.New("vendor_key: no vendor public key set: use --vendor-key vendor.pub, from your software vendor")
	}
	return nil
}

// validateDev keeps dev mode off real licenses and off the network: its
// vendor key is a file in the data directory, with which anyone who can
// read it could sign seats.
func (c *Config) validateDev() error {
	if !c.Dev {
		return nil
	}
	if len(c.VendorKey) > 0 {
		return errors.New("dev: cannot be used with vendor_key: dev mode trusts a throwaway key kept in the data directory; remove dev to serve your vendor's licenses")
	}
	if len(c.Listen) == 0 {
		return errors.New("dev: needs a loopback listen address: use --listen " + DevListen)
	}
	for _, addr := range c.Listen {
		if !loopback(addr) {
			return fmt.Errorf("dev: listen %s is not a loopback address: dev mode serves only this host; use --listen %s, or remove dev", addr, DevListen)
		}
	}
	return nil
}

// loopback reports whether addr, a HOST:PORT, listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateKeepalive() error {
	if c.KeepaliveScanInterval <= 0 || c.KeepaliveScanInterval > c.KeepaliveTimeout {
		return errors.New("keepalive_scan_interval: must be positive and at most keepalive_timeout")
	}
	return nil
}

func (c *Config) validateSecurity() error {
	s := c.Security
	switch {
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return errors.New("tls_cert, tls_key: set both or neither")
	case s.TLSAuto && s.TLSCert != "":
		return errors.New("tls_auto: cannot be used with tls_cert: pick one")
	case s.TLSClientCA != "" && !s.TLS():
		return errors.New("tls_client_ca: needs TLS: set tls_cert and tls_key, or tls_auto")
	case s.RateLimit.Requests > 0 && s.RateLimit.Interval <= 0:
		return errors.New("rate_limit.interval: must be positive, like \"5s\"")
	}
	return nil
}

// ClusterMode reports whether the configuration asks for a cluster: an
// embedded etcd member (peers) or an external etcd (etcd_endpoints).
func (c *Config) ClusterMode() bool { return len(c.Peers) > 0 || len(c.EtcdEndpoints) > 0 }

// Embedded reports whether this node runs an embedded etcd member.
func (c *Config) Embedded() bool { return len(c.Peers) > 0 }

func (c *Config) validateCluster() error {
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
	return c.validateEmbedded()
}

func (c *Config) validateEmbedded() error {
	switch {
	case c.EtcdCA != "" || c.EtcdCert != "":
		return errors.New("etcd_ca: the TLS options apply to an external etcd (etcd_endpoints); the embedded members talk plain HTTP, so keep peer traffic on a private network")
	case c.NodeName == "":
		return errors.New("node_name: set this node's name, one of the names in peers")
	case c.PeerListen == "":
		return errors.New("peer_listen: set the HOST:PORT where this node's etcd member talks to its peers")
	}
	peers, err := cluster.ParsePeers(c.Peers)
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	if _, ok := peers[c.NodeName]; !ok {
		return fmt.Errorf("peers: this node (%s) is not in the list: add %s=http://HOST:PORT", c.NodeName, c.NodeName)
	}
	_, err = c.EtcdClientAddr()
	return err
}

// EtcdClientAddr returns where the embedded member serves etcd clients:
// etcd_client_listen, else peer_listen's port + 1.
func (c *Config) EtcdClientAddr() (string, error) {
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

// ClusterNameOrDefault returns cluster_name, or its default when unset.
func (c *Config) ClusterNameOrDefault() string {
	if c.ClusterName == "" {
		return DefaultClusterName
	}
	return c.ClusterName
}

// NodeNameOrHost returns node_name, or the host name when unset.
func (c *Config) NodeNameOrHost() string {
	if c.NodeName != "" {
		return c.NodeName
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "usher"
	}
	return h
}

// validateRelay keeps a relay a single server: its blocks live in its
// memory, which the nodes of a cluster do not share.
func (c *Config) validateRelay() error {
	switch {
	case !c.IsRelay():
		return nil
	case c.ClusterMode():
		return errors.New("upstream: a relay cannot be a cluster node: run single relays, each with its own upstream list (the upstream may be a cluster)")
	case c.Dev:
		return errors.New("upstream: a relay serves its upstream's seats, not dev mode's demo license: remove dev")
	}
	return nil
}
