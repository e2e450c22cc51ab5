package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestClusterConfigValidate(t *testing.T) {
	base := func() daemon.Config {
		c := daemon.DefaultConfig()
		c.Data, c.VendorKey = "/tmp/x", []string{"vendor.pub"}
		return c
	}
	peers := []string{"n1=http://10.0.0.1:7421", "n2=http://10.0.0.2:7421", "n3=http://10.0.0.3:7421"}
	tests := []struct {
		name    string
		set     func(*daemon.Config)
		wantErr string // "" for valid
	}{
		{"single node", func(*daemon.Config) {}, ""},
		{"embedded", func(c *daemon.Config) { c.NodeName, c.PeerListen, c.Peers = "n1", "10.0.0.1:7421", peers }, ""},
		{"external", func(c *daemon.Config) { c.EtcdEndpoints = []string{"https://etcd1:2379"} }, ""},
		{"node not in peers", func(c *daemon.Config) { c.NodeName, c.PeerListen, c.Peers = "n9", "10.0.0.1:7421", peers }, "peers: this node (n9)"},
		{"no node name", func(c *daemon.Config) { c.PeerListen, c.Peers = "10.0.0.1:7421", peers }, "node_name"},
		{"no peer_listen", func(c *daemon.Config) { c.NodeName, c.Peers = "n1", peers }, "peer_listen"},
		{"peer_listen alone", func(c *daemon.Config) { c.PeerListen = "10.0.0.1:7421" }, "peer_listen: set peers"},
		{"both modes", func(c *daemon.Config) {
			c.NodeName, c.PeerListen, c.Peers, c.EtcdEndpoints = "n1", "10.0.0.1:7421", peers, []string{"http://e:2379"}
		}, "not both"},
		{"bad peer", func(c *daemon.Config) { c.NodeName, c.PeerListen, c.Peers = "n1", "10.0.0.1:7421", []string{"n1"} }, "NAME=URL"},
		{"cert without key", func(c *daemon.Config) { c.EtcdEndpoints, c.EtcdCert = []string{"https://e:2379"}, "c.pem" }, "etcd_key"},
		{"dev cluster", func(c *daemon.Config) { c.Dev, c.EtcdEndpoints = true, []string{"http://e:2379"} }, "dev mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.set(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestClusterConfigKeysSettable(t *testing.T) {
	c := daemon.DefaultConfig()
	for _, k := range daemon.Keys() {
		if err := c.Set(k.Name, "x"); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("key %s is listed but Set does not know it", k.Name)
		}
	}
	if err := c.Set("peers", "n1=http://a:1, n2=http://b:1"); err != nil || len(c.Peers) != 2 {
		t.Fatalf("Set peers: %v, %v", c.Peers, err)
	}
}

// TestExternalEtcdSmoke runs one node against the etcd binary (the Debian
// package etcd-server), as a deployment with external etcd does.
func TestExternalEtcdSmoke(t *testing.T) {
	url := etcdtest.StartExternal(t)
	ctx := context.Background()
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: func(cfg *daemon.Config) {
		cfg.ClusterName, cfg.NodeName = "smoke", "solo"
		cfg.EtcdEndpoints = []string{url}
	}})
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, ushertest.Until("node solo to decide", func() bool { return s.Ledger() != nil }))
	s.AddLicense(map[string]int{"cad": 1})
	l, err := clusterCheckout(ctx, s.Admin(), "cad", "a")
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	st, err := s.Admin().ClusterStatus(ctx)
	if err != nil || st.Decider != "solo" || len(st.Members) != 1 || !st.Members[0].Healthy {
		t.Fatalf("status %+v, %v: want node solo deciding and one healthy member", st, err)
	}
	// The state is in etcd: a second start finds the lease.
	s.Restart()
	cl := s.Admin()
	err = ushertest.RetryUnavailable(10*time.Second, func() error {
		ls, err := cl.Leases(ctx)
		if err == nil && (len(ls) != 1 || ls[0].ID != l.ID) {
			t.Fatalf("after restart: leases %v, want only %s", ls, l.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
