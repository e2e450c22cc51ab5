package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/etcdtest"
)

// TestIdentityLockOneHolderPerEtcd takes one identity from two clusters on
// one etcd: the second is refused, naming the first, until the first
// releases it; a holder whose lease is revoked learns it has lost it.
func TestIdentityLockOneHolderPerEtcd(t *testing.T) {
	ec := etcdtest.MustStartCluster(t, 1)
	cli := ec.Client(etcdtest.MemberName(0))
	ctx := context.Background()
	guid := "3f0d6f0a-6d2e-8c1b-9a4e-0123456789ab"
	first := &cluster.IdentityLock{Client: cli, Cluster: "one", Node: "a"}
	second := &cluster.IdentityLock{Client: cli, Cluster: "two", Node: "b"}

	held, err := first.Lock(ctx, guid)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	_, err = second.Lock(ctx, guid)
	if !errors.Is(err, usher.ErrLicenseInUseElsewhere) || !strings.Contains(err.Error(), `cluster "one"`) || !strings.Contains(err.Error(), `node "a"`) {
		t.Fatalf("second Lock while the first holds it: got %v, want license_in_use_elsewhere naming node a of cluster one", err)
	}
	if other, err := second.Lock(ctx, "another-guid"); err != nil {
		t.Fatalf("Lock of another identity: %v", err)
	} else {
		other.Release()
	}
	if err := held.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	held.Release() // twice is safe
	held2, err := second.Lock(ctx, guid)
	if err != nil {
		t.Fatalf("second Lock after the first released: %v", err)
	}
	defer held2.Release()

	// Revoking the holder's lease (as its expiry would) loses the lock.
	resp, err := cli.Get(ctx, cluster.IdentityPrefix+guid)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get the lock key: %v, %v", resp, err)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held2.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a holder whose lease was revoked did not learn it lost the lock")
	}
}
