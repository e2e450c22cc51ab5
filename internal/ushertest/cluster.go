package ushertest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/etcdtest"
)

// Cluster is a cluster of daemons, each with an embedded etcd member, in
// the test process on loopback ports. Set USHER_TEST_LOG to see the
// nodes' debug logs on stderr.
type Cluster struct {
	tb        testing.TB
	Vendor    ed25519.PrivateKey // the vendor key every node trusts
	VendorKey []string           // the vendor_key setting of every node
	Configs   []daemon.Config    // node i's configuration
	Logs      []*Buffer          // node i's log, unless USHER_TEST_LOG sends them to stderr

	mu      sync.Mutex
	daemons []*daemon.Daemon // nil while a node is down
}

// StartCluster starts n nodes at once (a member serves only once a
// majority is up) and closes them when the test ends; each of set changes
// every node's configuration. A port taken by someone else between
// choosing and binding it gets a new set of ports.
func StartCluster(tb testing.TB, n int, set ...func(*daemon.Config)) *Cluster {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		c, err := startCluster(tb, n, set)
		if err == nil {
			tb.Cleanup(c.Close)
			return c
		}
		c.Close()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatal(err)
		}
		tb.Logf("starting the cluster again with other ports: %v", err)
	}
}

func startCluster(tb testing.TB, n int, set []func(*daemon.Config)) (*Cluster, error) {
	tb.Helper()
	dir := tb.TempDir()
	c := &Cluster{tb: tb, Vendor: mustVendorKey(tb, dir), VendorKey: []string{filepath.Join(dir, "vendor.pub")}, daemons: make([]*daemon.Daemon, n)}
	c.Configs = nodeConfigs(tb, n, c.VendorKey)
	for range n {
		c.Logs = append(c.Logs, &Buffer{})
	}
	for i := range c.Configs {
		for _, fn := range set {
			fn(&c.Configs[i])
		}
		if err := c.Configs[i].Validate(); err != nil {
			tb.Fatal(err)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.Start(i) }()
	}
	var err error
	for range n {
		err = errors.Join(err, <-errs)
	}
	return c, err
}

// nodeConfigs returns the configurations of n nodes of cluster "test" on
// free loopback ports, named as etcdtest names members.
func nodeConfigs(tb testing.TB, n int, vendorKey []string) []daemon.Config {
	var cfgs []daemon.Config
	var peers []string
	all := etcdtest.FreePorts(tb, 3*n)
	for i := range n {
		cfg := daemon.DefaultConfig()
		cfg.Data = tb.TempDir()
		cfg.Discovery = false
		cfg.VendorKey = vendorKey
		cfg.KeepaliveScanInterval = daemon.Duration(time.Second)
		ports := all[3*i : 3*i+3]
		cfg.Listen = []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}
		cfg.ClusterName = "test"
		cfg.NodeName = etcdtest.MemberName(i)
		cfg.PeerListen = fmt.Sprintf("127.0.0.1:%d", ports[1])
		cfg.EtcdClientListen = fmt.Sprintf("127.0.0.1:%d", ports[2])
		peers = append(peers, cfg.NodeName+"=http://"+cfg.PeerListen)
		cfgs = append(cfgs, cfg)
	}
	for i := range cfgs {
		cfgs[i].Peers = peers
	}
	return cfgs
}

// Start starts (or restarts, from its data) node i.
func (c *Cluster) Start(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := daemon.Options{Logger: slog.New(slog.NewTextHandler(c.Logs[i], nil))}
	if os.Getenv("USHER_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := daemon.Start(ctx, c.Configs[i], opts)
	if err != nil {
		return fmt.Errorf("start node %d: %w", i, err)
	}
	c.mu.Lock()
	c.daemons[i] = d
	c.mu.Unlock()
	return nil
}

// Daemon returns node i's daemon, or nil while it is down.
func (c *Cluster) Daemon(i int) *daemon.Daemon {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.daemons[i]
}

// Kill stops node i abruptly, as kill -9 would.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	d := c.daemons[i]
	c.daemons[i] = nil
	c.mu.Unlock()
	if d != nil {
		d.Kill()
	}
}

// Close stops every running node. Safe to call twice.
func (c *Cluster) Close() {
	c.mu.Lock()
	ds := c.daemons
	c.daemons = make([]*daemon.Daemon, len(ds))
	c.mu.Unlock()
	// One at a time: a raft leader closing together with its peers would
	// wait etcd's request timeout for a leadership transfer to a peer that
	// is gone.
	for _, d := range ds {
		if d != nil {
			d.Close()
		}
	}
}

// URL returns node i's base URL.
func (c *Cluster) URL(i int) string { return "http://" + c.Configs[i].Listen[0] }

// Client returns an admin client of node i. The admin token is shared by
// the cluster.
func (c *Cluster) Client(i int) *apiclient.Client {
	c.tb.Helper()
	return c.ClientWithin(i, 0)
}

// ClientWithin is Client with each request bounded by timeout (0: the
// client's default).
func (c *Cluster) ClientWithin(i int, timeout time.Duration) *apiclient.Client {
	c.tb.Helper()
	tok, err := os.ReadFile(filepath.Join(c.Configs[i].Data, daemon.TokenFile))
	if err != nil {
		c.tb.Fatal(err)
	}
	cl, err := apiclient.New(apiclient.Config{Servers: []string{c.URL(i)}, Token: strings.TrimSpace(string(tok)), RequestTimeout: timeout})
	if err != nil {
		c.tb.Fatal(err)
	}
	return cl
}

// MustDecider waits until some running node decides and returns its
// index, failing the test after 10 s.
func (c *Cluster) MustDecider() int {
	c.tb.Helper()
	dec, err := c.Decider(10 * time.Second)
	if err != nil {
		c.tb.Fatal(err)
	}
	return dec
}

// Decider waits until some running node decides and returns its index.
func (c *Cluster) Decider(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		for i := range c.Configs {
			if d := c.Daemon(i); d != nil && d.Ledger() != nil {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, errors.New("no node decides")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

// AddLicense signs a license for feature with seats and loads it through
// node i, again while the cluster answers unavailable.
func (c *Cluster) AddLicense(i int, feature string, seats int) {
	c.tb.Helper()
	text := Sign(c.tb, c.Vendor, usher.Grant{Feature: feature, Seats: seats})
	err := RetryUnavailable(10*time.Second, func() error {
		_, err := c.Client(i).AddLicense(context.Background(), text)
		if usher.ErrorCode(err) == usher.ELicenseExists {
			return nil
		}
		return err
	})
	if err != nil {
		c.tb.Fatalf("add license: %v", err)
	}
}

// RetryUnavailable calls fn until it returns anything but an unavailable
// error, or the time is up, and returns fn's last error: a cluster
// answers unavailable while it elects a decider.
func RetryUnavailable(within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if usher.ErrorCode(err) != usher.EUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // backing off between polls
	}
}
