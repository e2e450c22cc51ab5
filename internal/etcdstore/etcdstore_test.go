package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/etcdstore"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/storetest"
)

func TestMain(m *testing.M) {
	etcdtest.VerifyNoLeaks(m)
}

// conformance runs the store suite on cli, each test under its own
// cluster name so that tests share one etcd.
func conformance(t *testing.T, cli *clientv3.Client) {
	n := 0
	storetest.Run(t, func(t *testing.T) func() usher.Store {
		n++
		cluster := fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), n)
		return func() usher.Store { return etcdstore.New(cli, etcdstore.Options{Cluster: cluster}) }
	})
}

func TestConformanceEmbedded(t *testing.T) {
	c := etcdtest.MustStartCluster(t, 1)
	conformance(t, c.Client("n1"))
}

func TestConformanceExternal(t *testing.T) {
	url := etcdtest.StartExternal(t)
	conformance(t, etcdtest.MustClient(t, []string{url}))
}

func TestFenceRefusesWritesAfterLosingTheKey(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.MustStartCluster(t, 1)
	cli := c.Client("n1")
	const key = "/usher/fence/election/me"
	put, err := cli.Put(ctx, key, "me")
	if err != nil {
		t.Fatal(err)
	}
	var failures []error
	s := etcdstore.New(cli, etcdstore.Options{
		Cluster:   "fence",
		Fence:     &etcdstore.Fence{Key: key, Revision: put.Header.Revision},
		OnFailure: func(err error) { failures = append(failures, err) },
	})
	defer s.Close()
	if err := s.PutLease(ctx, usher.Lease{ID: "ls_1", Feature: "cad", Client: usher.Client{ID: "a"}}); err != nil {
		t.Fatalf("PutLease while holding the key: %v", err)
	}
	if _, err := cli.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	err = s.PutLease(ctx, usher.Lease{ID: "ls_2", Feature: "cad", Client: usher.Client{ID: "b"}})
	if !etcdstore.IsFenced(err) || usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("PutLease after losing the key: got %v, want the fenced error", err)
	}
	if len(failures) != 1 || !errors.Is(failures[0], etcdstore.ErrFenced) {
		t.Fatalf("OnFailure got %v, want one fenced error", failures)
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Leases) != 1 || snap.Leases[0].ID != "ls_1" {
		t.Fatalf("stored leases %+v, want only ls_1", snap.Leases)
	}
}

// A lease stored by a release before leases had owners loads with no
// owner and no address.
func TestLoadsLeaseOfEarlierRelease(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.MustStartCluster(t, 1)
	cli := c.Client("n1")
	old := `{"id":"ls_old","feature":"cad","client":{"id":"c1","user":"alice"},"issued_at":"2026-11-23T10:00:00Z"}`
	if _, err := cli.Put(ctx, etcdstore.Prefix("old")+"leases/ls_old", old); err != nil {
		t.Fatal(err)
	}
	s := etcdstore.New(cli, etcdstore.Options{Cluster: "old"})
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Leases) != 1 {
		t.Fatalf("got %d leases, want 1", len(snap.Leases))
	}
	if got := snap.Leases[0]; got.ID != "ls_old" || got.Client.ID != "c1" || got.Owner != (usher.Owner{}) || got.Addr != "" {
		t.Fatalf("got lease %+v, want ls_old of c1 with no owner and no address", got)
	}
}
