package daemon_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/ushertest"
)

// testCluster is a cluster of daemons, each with an embedded etcd member,
// in this test process on loopback ports.
type testCluster struct {
	t         testing.TB
	priv      ed25519.PrivateKey
	vendorKey []string
	configs   []daemon.Config
	logs      []*ushertest.Buffer // each node's log, unless USHER_TEST_LOG sends them to stderr

	mu      sync.Mutex
	daemons []*daemon.Daemon // nil while a node is down
}

// mustStartCluster starts n nodes at once (a member serves only once a
// majority is up) and closes them when the test ends; each of set changes
// every node's configuration. A port taken by someone else between
// choosing and binding it gets a new set of ports.
func mustStartCluster(t testing.TB, n int, set ...func(*daemon.Config)) *testCluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c, err := startCluster(t, n, set...)
		if err == nil {
			t.Cleanup(c.close)
			return c
		}
		c.close()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("starting the cluster again with other ports: %v", err)
	}
}

func startCluster(t testing.TB, n int, set ...func(*daemon.Config)) (*testCluster, error) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	pubPEM, _ := usher.MarshalPublicKey(pub)
	pubPath := filepath.Join(t.TempDir(), "vendor.pub")
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, priv: priv, vendorKey: []string{pubPath}, daemons: make([]*daemon.Daemon, n)}
	for range n {
		c.logs = append(c.logs, &ushertest.Buffer{})
	}
	var peers []string
	all := etcdtest.FreePorts(t, 3*n)
	for i := range n {
		cfg := daemon.DefaultConfig()
		cfg.Data = t.TempDir()
		cfg.VendorKey = []string{pubPath}
		cfg.KeepaliveScanInterval = daemon.Duration(time.Second)
		ports := all[3*i : 3*i+3]
		cfg.Listen = []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}
		cfg.ClusterName = "test"
		cfg.NodeName = etcdtest.MemberName(i)
		cfg.PeerListen = fmt.Sprintf("127.0.0.1:%d", ports[1])
		cfg.EtcdClientListen = fmt.Sprintf("127.0.0.1:%d", ports[2])
		peers = append(peers, cfg.NodeName+"=http://"+cfg.PeerListen)
		c.configs = append(c.configs, cfg)
	}
	for i := range c.configs {
		c.configs[i].Peers = peers
		for _, fn := range set {
			fn(&c.configs[i])
		}
		if err := c.configs[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.start(i) }()
	}
	var err error
	for range n {
		err = errors.Join(err, <-errs)
	}
	return c, err
}

func (c *testCluster) start(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := daemon.Options{Logger: slog.New(slog.NewTextHandler(c.logs[i], nil))}
	if os.Getenv("USHER_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := daemon.Start(ctx, c.configs[i], opts)
	if err != nil {
		return fmt.Errorf("start node %d: %w", i, err)
	}
	c.mu.Lock()
	c.daemons[i] = d
	c.mu.Unlock()
	return nil
}

func (c *testCluster) kill(i int) {
	c.mu.Lock()
	d := c.daemons[i]
	c.daemons[i] = nil
	c.mu.Unlock()
	if d != nil {
		d.Kill()
	}
}

func (c *testCluster) close() {
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

func (c *testCluster) url(i int) string { return "http://" + c.configs[i].Listen[0] }

// client returns an admin client of node i. The admin token is shared by
// the cluster.
func (c *testCluster) client(i int) *httpapi.Client {
	c.t.Helper()
	tok, err := os.ReadFile(filepath.Join(c.configs[i].Data, daemon.TokenFile))
	if err != nil {
		c.t.Fatal(err)
	}
	return httpapi.NewClient(c.url(i), string(tok[:len(tok)-1]))
}

// mustDecider waits until some running node decides and returns its
// index, failing the test after 10 s.
func (c *testCluster) mustDecider() int {
	c.t.Helper()
	dec, err := c.decider(10 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return dec
}

// decider waits until some running node decides and returns its index.
func (c *testCluster) decider(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		for i, d := range c.daemons {
			if d != nil && d.Ledger() != nil {
				c.mu.Unlock()
				return i, nil
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return -1, errors.New("no node decides")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

// addLicense signs a license for feature with seats and loads it through
// node i.
func (c *testCluster) addLicense(i int, feature string, seats int) {
	c.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Acme", IssuedAt: time.Now(),
		Grants: []usher.Grant{{Feature: feature, Seats: seats}}}
	text, err := usher.Sign(lic, c.priv)
	if err != nil {
		c.t.Fatal(err)
	}
	err = retry(10*time.Second, func() error {
		_, err := c.client(i).AddLicense(context.Background(), text)
		if usher.ErrorCode(err) == usher.ELicenseExists {
			return nil
		}
		return err
	})
	if err != nil {
		c.t.Fatalf("add license: %v", err)
	}
}

// retry calls fn until it returns no unavailable error, or the time is up.
func retry(within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if usher.ErrorCode(err) != usher.EUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // backing off between polls
	}
}

func clusterCheckout(ctx context.Context, c *httpapi.Client, feature, client string) (httpapi.LeaseResponse, error) {
	l, _, err := c.Checkout(ctx, httpapi.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}})
	return l, err
}

func TestClusterServesThroughEveryNode(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	c.mustDecider()
	c.addLicense(0, "cad", 3)
	var ids []string
	for i := range 3 {
		l, err := clusterCheckout(ctx, c.client(i), "cad", fmt.Sprint("client-", i))
		if err != nil {
			t.Fatalf("checkout through node %d: %v", i, err)
		}
		ids = append(ids, l.ID)
	}
	if _, err := clusterCheckout(ctx, c.client(1), "cad", "one-too-many"); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("fourth checkout of 3 seats: got %v, want %s", err, usher.ENoSeats)
	}
	if err := c.client(2).Release(ctx, ids[0]); err != nil {
		t.Fatalf("release through node 2: %v", err)
	}
	st, err := c.client(1).ClusterStatus(ctx)
	if err != nil {
		t.Fatalf("cluster status: %v", err)
	}
	if len(st.Members) != 3 || st.Decider == "" || st.EtcdLeader == "" {
		t.Fatalf("status %+v: want 3 members, a decider and an etcd leader", st)
	}
	for _, m := range st.Members {
		if !m.Healthy {
			t.Errorf("member %s is not healthy: %s", m.Name, m.Error)
		}
	}
}

func TestClusterFailoverKeepsLeases(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.mustDecider()
	c.addLicense(dec, "cad", 2)
	held, err := clusterCheckout(ctx, c.client(dec), "cad", "held")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.kill(dec) // in process this takes about a second; kill -9 takes none
	killed := time.Now()
	t.Logf("killed node %d in %v", dec, killed.Sub(start).Round(time.Millisecond))
	other := (dec + 1) % 3
	var second httpapi.LeaseResponse
	err = retry(30*time.Second, func() (err error) {
		second, err = clusterCheckout(ctx, c.client(other), "cad", "after-failover")
		return err
	})
	if err != nil {
		t.Fatalf("checkout through node %d after killing node %d: %v", other, dec, err)
	}
	// The time is logged, not asserted: on a loaded test machine it says
	// little. docs/benchmarks.md measures it against the 5 s target.
	t.Logf("failover took %v", time.Since(killed).Round(time.Millisecond))
	leases, err := c.client(other).Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 2 {
		t.Fatalf("after failover: %d leases, want the held one and the new one", len(leases))
	}
	if _, err := clusterCheckout(ctx, c.client(other), "cad", "third"); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("checkout beyond 2 seats after failover: got %v, want %s", err, usher.ENoSeats)
	}
	if _, err := c.client(other).Heartbeat(ctx, held.ID); err != nil {
		t.Fatalf("heartbeat of the lease held before the failover: %v", err)
	}
	// The killed node rejoins and serves again.
	if err := c.start(dec); err != nil {
		t.Fatalf("restart node %d: %v", dec, err)
	}
	err = retry(10*time.Second, func() error { return c.client(dec).Release(ctx, second.ID) })
	if err != nil {
		t.Fatalf("release through the restarted node: %v", err)
	}
}

// TestClusterSharesUsersAndTokens: users, API tokens and logins live in
// etcd, so they keep working when another node decides.
func TestClusterSharesUsersAndTokens(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.mustDecider()
	other := (dec + 1) % 3
	admin := c.client(other) // forwarded to the decider
	tok, err := admin.CreateToken(ctx, "grafana", "monitor")
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if _, err := admin.AddUser(ctx, httpapi.UserRequest{Username: "ops", Password: "a long enough password", Role: "monitor"}); err != nil {
		t.Fatalf("add user: %v", err)
	}
	anon := c.client(other)
	anon.Token = ""
	login, err := anon.Login(ctx, "ops", "a long enough password")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	c.kill(dec)
	for name, secret := range map[string]string{"API token": tok.Token, "login": login.Token} {
		cl := c.client(other)
		cl.Token = secret
		err := retry(10*time.Second, func() error { _, err := cl.Leases(ctx); return err })
		if err != nil {
			t.Errorf("%s after the deciding node died: %v", name, err)
		}
	}
}

// TestClusterHistorySurvivesLosingANode: the event log and the usage
// history live in etcd, so they outlive the deciding node and its disk,
// and every node reads the same.
func TestClusterHistorySurvivesLosingANode(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.mustDecider()
	other := (dec + 1) % 3
	c.addLicense(other, "cad", 5)
	var leases []string
	for i := range 3 {
		l, err := clusterCheckout(ctx, c.client(i), "cad", fmt.Sprint("hist-", i))
		if err != nil {
			t.Fatalf("checkout through node %d: %v", i, err)
		}
		leases = append(leases, l.ID)
	}
	if err := c.client(other).Release(ctx, leases[0]); err != nil { // with the admin token: a kick
		t.Fatal(err)
	}
	// Read through the decider: it stores what it has queued first.
	before, err := c.client(dec).Events(ctx, httpapi.EventsQuery{Feature: "cad"})
	if err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(before); !slices.Equal(got, []string{"lease_granted", "lease_granted", "lease_granted", "lease_kicked"}) {
		t.Fatalf("events before the loss: %v", got)
	}

	c.kill(dec)
	if err := os.RemoveAll(c.configs[dec].Data); err != nil { // its disk is gone too
		t.Fatal(err)
	}
	var after []eventlog.Record
	err = retry(10*time.Second, func() (err error) {
		after, err = c.client(other).Events(ctx, httpapi.EventsQuery{Feature: "cad"})
		return err
	})
	if err != nil {
		t.Fatalf("events after losing node %d: %v", dec, err)
	}
	if !slices.Equal(after, before) {
		t.Fatalf("events after losing node %d:\n%+v\nwant\n%+v", dec, after, before)
	}
	all, err := c.client(other).Events(ctx, httpapi.EventsQuery{Type: "license_added"})
	if err != nil || len(all) != 1 {
		t.Fatalf("license_added events: %+v, %v; want one", all, err)
	}
	started, err := c.client(other).Events(ctx, httpapi.EventsQuery{Type: "server_started"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, ev := range started {
		_, node, _ := strings.Cut(ev.Reason, ", node ")
		nodes[node] = true
	}
	if len(nodes) != 3 || nodes[""] {
		t.Fatalf("server_started events %+v: want one from each of 3 nodes, naming it", started)
	}
	usage, err := c.client(other).Usage(ctx, httpapi.UsageQuery{Feature: "cad", Step: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	checkouts := 0
	for _, p := range usage.Usage {
		checkouts += p.Checkouts
	}
	if checkouts != 3 {
		t.Fatalf("usage after losing node %d: %+v, want 3 checkouts", dec, usage.Usage)
	}
}

// TestClusterAppliesSettingsEverywhere: a runtime setting changed through
// one node is applied by every node at once, so that a node that decides
// later uses it too, and the change is recorded once.
func TestClusterAppliesSettingsEverywhere(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.mustDecider()
	other := (dec + 1) % 3
	if _, err := c.client(other).ChangeSettings(ctx, httpapi.SettingsRequest{Set: map[string]string{"keepalive_timeout": "77s"}}); err != nil {
		t.Fatal(err)
	}
	setting := func(i int) string {
		c.mu.Lock()
		d := c.daemons[i]
		c.mu.Unlock()
		for _, s := range d.Settings() {
			if s.Key == "keepalive_timeout" {
				return s.Value + " from " + s.Source
			}
		}
		return ""
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := range 3 {
		for setting(i) != "1m17s from runtime" {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: keepalive_timeout is %s, want 1m17s from runtime", i, setting(i))
			}
			time.Sleep(20 * time.Millisecond) // polling
		}
	}
	// Read through the decider first: it stores what it has queued, so
	// the kill cannot take the event with it.
	if evs, err := c.client(dec).Events(ctx, httpapi.EventsQuery{Type: "config_changed"}); err != nil || len(evs) != 1 {
		t.Fatalf("config_changed events on the decider: %+v, %v; want one", evs, err)
	}
	c.kill(dec)
	c.addLicense(other, "cad", 1)
	var l httpapi.LeaseResponse
	err := retry(10*time.Second, func() (err error) {
		l, err = clusterCheckout(ctx, c.client(other), "cad", "after")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(l.ExpiresAt); got < 70*time.Second || got > 77*time.Second {
		t.Errorf("a lease of the new decider expires in %v, want the 77s set before", got)
	}
	evs, err := c.client(other).Events(ctx, httpapi.EventsQuery{Type: "config_changed"})
	if err != nil || len(evs) != 1 {
		t.Errorf("config_changed events %+v, %v; want one", evs, err)
	}
}

// TestClusterBootstrapsOneAdmin: every node of a new cluster tries to
// create the bootstrap user at once; one does, and only its password
// file exists, and works.
func TestClusterBootstrapsOneAdmin(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	var written []int
	for i, cfg := range c.configs {
		if _, err := os.Stat(filepath.Join(cfg.Data, daemon.AdminPasswordFile)); err == nil {
			written = append(written, i)
		}
	}
	if len(written) != 1 {
		t.Fatalf("nodes %v wrote an admin password, want exactly one", written)
	}
	if os.Getenv("USHER_TEST_LOG") == "" {
		var created, adopted int
		for _, log := range c.logs {
			created += strings.Count(log.String(), "created admin token")
			adopted += strings.Count(log.String(), "adopted the cluster's admin token")
		}
		if created != 1 || adopted != 2 {
			t.Errorf("nodes logged %d created and %d adopted admin tokens, want 1 and 2", created, adopted)
		}
	}
	pw, err := os.ReadFile(filepath.Join(c.configs[written[0]].Data, daemon.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	c.mustDecider()
	for i := range 3 {
		anon := c.client(i)
		anon.Token = ""
		if _, err := anon.Login(ctx, "admin", strings.TrimSpace(string(pw))); err != nil {
			t.Errorf("login as admin through node %d: %v", i, err)
		}
	}
}

// TestClusterNodeRejoinsWithAnEmptyDisk: a node whose disk is lost is
// started again with the same command and an empty data directory; it
// takes its place in the cluster again and serves.
func TestClusterNodeRejoinsWithAnEmptyDisk(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.mustDecider()
	c.addLicense(dec, "cad", 2)
	lost := (dec + 1) % 3
	c.kill(lost)
	if err := os.RemoveAll(c.configs[lost].Data); err != nil {
		t.Fatal(err)
	}
	if err := c.start(lost); err != nil {
		t.Fatalf("start node %d again on an empty disk: %v", lost, err)
	}
	var l httpapi.LeaseResponse
	err := retry(10*time.Second, func() (err error) {
		l, err = clusterCheckout(ctx, c.client(lost), "cad", "after-rejoin")
		return err
	})
	if err != nil {
		t.Fatalf("checkout through the node that rejoined: %v", err)
	}
	st, err := c.client(lost).ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 {
		t.Fatalf("members %+v, want 3", st.Members)
	}
	for _, m := range st.Members {
		if !m.Healthy {
			t.Errorf("member %s is not healthy: %s", m.Name, m.Error)
		}
	}
	if err := c.client(dec).Release(ctx, l.ID); err != nil {
		t.Fatal(err)
	}

	// With two of three nodes down, the status still lists the members,
	// says which are down, and why nothing more is known.
	left := (lost + 1) % 3
	c.kill((left + 1) % 3)
	c.kill((left + 2) % 3)
	st, err = c.client(left).ClusterStatus(ctx)
	if err != nil {
		t.Fatalf("status without a majority: %v", err)
	}
	down, answered := 0, 0
	for _, m := range st.Members {
		switch {
		case m.RaftIndex == 0 && m.Error != "":
			down++
		case m.RaftIndex > 0 && !m.Healthy: // up, but without a leader
			answered++
		}
	}
	if st.Error == "" || len(st.Members) != 3 || down != 2 || answered != 1 {
		t.Fatalf("status without a majority: %+v; want an error, 2 members down and 1 up without a leader", st)
	}
}
