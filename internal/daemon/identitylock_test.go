package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// startClusterNode starts a one-node cluster named name on the etcd at
// url, with the vendor key vendorKey (all of them when empty) and, if
// identity is set, that identity key in its data directory.
func startClusterNode(t *testing.T, url, name string, vendorKey []string, identity []byte) *ushertest.Server {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	if identity != nil {
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, daemon.IdentityFile), identity, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: func(cfg *daemon.Config) {
		cfg.ClusterName, cfg.NodeName, cfg.EtcdEndpoints, cfg.Data = name, name+"-node", []string{url}, data
		if vendorKey != nil {
			cfg.VendorKey = vendorKey
		}
	}})
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, ushertest.Until("the node to decide", func() bool { return s.Ledger() != nil }))
	return s
}

// TestClusterIdentityLockAcrossClusters runs two clusters with one
// identity (a copy of the first's) on one etcd: the second serves the
// bound license only once the first stops, and says which cluster holds
// it meanwhile.
func TestClusterIdentityLockAcrossClusters(t *testing.T) {
	url := etcdtest.StartExternal(t)
	ctx := context.Background()
	first := startClusterNode(t, url, "one", nil, nil)
	key, _ := usher.ParseServerKey(serverKey(t, first.URL()).ServerKey)
	lic := signBound(t, first, key, nil, "cad")
	if _, err := first.Admin().AddLicense(ctx, lic); err != nil {
		t.Fatal(err)
	}
	if _, err := clusterCheckout(ctx, first.Admin(), "cad", "on-first"); err != nil {
		t.Fatalf("first cluster: %v", err)
	}
	identity, err := os.ReadFile(filepath.Join(first.Config.Data, daemon.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	second := startClusterNode(t, url, "two", first.Config.VendorKey, identity)
	if got := serverKey(t, second.URL()).GUID; got != usher.ServerGUID(key) {
		t.Fatalf("second cluster has guid %s, want the first's %s", got, usher.ServerGUID(key))
	}
	c := second.Admin()
	if _, err := c.AddLicense(ctx, lic); err != nil {
		t.Fatal(err)
	}
	_, err = clusterCheckout(ctx, c, "cad", "on-second")
	if usher.ErrorCode(err) != usher.ELicenseInUseElsewhere || !strings.Contains(err.Error(), `cluster "one"`) {
		t.Fatalf("second cluster: got %v, want license_in_use_elsewhere naming cluster one", err)
	}
	evs, err := c.Events(ctx, wire.EventsQuery{Type: "license_in_use_elsewhere"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("got events %+v, %v, want one license_in_use_elsewhere", evs, err)
	}
	first.Close()
	ushertest.WaitFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		_, err := clusterCheckout(ctx, c, "cad", "on-second")
		return err
	})
}

// TestClusterNodesShareOneIdentity checks that every node of a cluster
// serves under the identity of the first, so that a license bound to the
// cluster keeps serving after a failover.
func TestClusterNodesShareOneIdentity(t *testing.T) {
	c := mustStartCluster(t, 3)
	d := c.MustDecider()
	a := serverKey(t, c.URL(0))
	for i := range 3 {
		if b := serverKey(t, c.URL(i)); a.ServerKey != b.ServerKey || a.GUID != b.GUID {
			t.Fatalf("got identities %+v on node 0 and %+v on node %d, want one for the cluster", a, b, i)
		}
		fp, err := daemon.ReadFingerprint(c.Configs[i].Data, nil)
		if err != nil || fp.ServerKey != a.ServerKey {
			t.Fatalf("node %d fingerprint: %+v, %v, want the cluster's key %s", i, fp, err, a.ServerKey)
		}
	}
	key, _ := usher.ParseServerKey(a.ServerKey)
	ctx := context.Background()
	text, err := usher.Sign(&usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "cad", Seats: 2}}, BindServer: key}, c.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(d).AddLicense(ctx, text); err != nil {
		t.Fatal(err)
	}
	if _, err := clusterCheckout(ctx, c.Client(d), "cad", "before"); err != nil {
		t.Fatalf("checkout on the decider: %v", err)
	}
	c.Kill(d)
	other := (d + 1) % 3
	err = ushertest.RetryUnavailable(20*time.Second, func() error {
		_, err := clusterCheckout(ctx, c.Client(other), "cad", "after")
		if usher.ErrorCode(err) == usher.ELicenseInUseElsewhere {
			return usher.Errorf(usher.EUnavailable, "%v", err) // the old term's lock has not expired yet
		}
		return err
	})
	if err != nil {
		t.Fatalf("checkout of the bound license after failover: %v", err)
	}
}

// TestLostClusterIdentityLockIsTakenAgain revokes the lease under a
// deciding node's identity lock, as its expiry would: the node stops
// serving bound licenses, says why, and serves them again once it holds
// the lock anew.
func TestLostClusterIdentityLockIsTakenAgain(t *testing.T) {
	url := etcdtest.StartExternal(t)
	ctx := context.Background()
	s := startClusterNode(t, url, "solo", nil, nil)
	info := serverKey(t, s.URL())
	key, _ := usher.ParseServerKey(info.ServerKey)
	if _, err := s.Admin().AddLicense(ctx, signBound(t, s, key, nil, "cad")); err != nil {
		t.Fatal(err)
	}
	cli := etcdtest.MustClient(t, []string{url})
	resp, err := cli.Get(ctx, cluster.IdentityPrefix+info.GUID)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the decider's identity lock in etcd: %v, %v", resp, err)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	c := s.Admin()
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		evs, err := c.Events(ctx, wire.EventsQuery{Type: "license_in_use_elsewhere"})
		if err == nil && (len(evs) != 1 || !strings.Contains(evs[0].Reason, "lost its identity lock")) {
			err = fmt.Errorf("got events %+v, want one saying the lock was lost", evs)
		}
		return err
	})
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		evs, err := c.Events(ctx, wire.EventsQuery{Type: "license_served_again"})
		if err == nil && len(evs) != 1 {
			err = fmt.Errorf("got events %+v, want license_served_again", evs)
		}
		return err
	})
	if _, err := clusterCheckout(ctx, c, "cad", "after"); err != nil {
		t.Fatalf("checkout once the lock is held again: %v", err)
	}
}

// TestIdentityLockDirMustBeADirectory checks that server check and start
// both name identity_lock_dir when it cannot hold lock files.
func TestIdentityLockDirMustBeADirectory(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "v.pub")
	if err := daemon.WriteVendorKeys(filepath.Join(dir, "v.key"), pub); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.VendorKey, cfg.Listen = filepath.Join(dir, "data"), []string{pub}, []string{"127.0.0.1:0"}
	cfg.IdentityLockDir = pub // a file
	if err := daemon.Check(cfg); err == nil || !strings.HasPrefix(err.Error(), "identity_lock_dir") {
		t.Errorf("server check with identity_lock_dir a file: got %v, want an error naming identity_lock_dir", err)
	}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
	if err == nil {
		d.Close()
		t.Fatal("a server started with identity_lock_dir a file")
	}
	if !strings.Contains(err.Error(), "identity_lock_dir") {
		t.Fatalf("start with identity_lock_dir a file: got %v, want it named", err)
	}
}
