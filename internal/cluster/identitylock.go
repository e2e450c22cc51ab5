package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	usher "github.com/usher-lm/usher"
)

// IdentityPrefix is where the identity locks live in etcd: outside every
// cluster's prefix, so that two clusters on one etcd see each other's.
const IdentityPrefix = "/usher/identity-locks/"

// IdentityLock is the identity lock of a cluster: a key per identity GUID
// under IdentityPrefix, held by the deciding node with a lease of its own.
// A second cluster (or a stray node) with the same identity on the same
// etcd finds the key taken, until the holder stops or its lease expires.
type IdentityLock struct {
	Client     *clientv3.Client
	Cluster    string // names the holder in refusals
	Node       string
	SessionTTL int // seconds; default DefaultSessionTTL
}

var _ usher.IdentityLock = (*IdentityLock)(nil)

// identityHolder is what the holder writes under the key.
type identityHolder struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
}

// Lock takes the key of guid if no one holds it. It returns
// ELicenseInUseElsewhere naming the holder when another does.
func (l *IdentityLock) Lock(ctx context.Context, guid string) (usher.HeldIdentity, error) {
	ttl := l.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	sess, err := concurrency.NewSession(l.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("open an etcd session for the identity lock: %w", err)
	}
	held := &etcdHeld{cli: l.Client, sess: sess}
	key := IdentityPrefix + guid
	val, _ := json.Marshal(identityHolder{Cluster: l.Cluster, Node: l.Node})
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.Client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(sess.Lease()))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		held.Release()
		return nil, fmt.Errorf("take the identity lock in etcd: %w", err)
	}
	if resp.Succeeded {
		return held, nil
	}
	held.Release()
	var other identityHolder
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		json.Unmarshal(kvs[0].Value, &other)
	}
	return nil, usher.Errorf(usher.ELicenseInUseElsewhere, "another Usher server with this identity (guid %s) serves bound licenses on the same etcd: node %q of cluster %q, from a copy of this cluster's identity", guid, other.Node, other.Cluster)
}

// etcdHeld is a held identity lock: the key lives as long as the session.
type etcdHeld struct {
	cli  *clientv3.Client
	sess *concurrency.Session
	once sync.Once
}

func (h *etcdHeld) Lost() <-chan struct{} { return h.sess.Done() }

// Release revokes the session's lease, which deletes the key at once, so
// that another server may take it without waiting for the TTL.
func (h *etcdHeld) Release() error {
	var err error
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = h.cli.Revoke(ctx, h.sess.Lease())
		h.sess.Close()
	})
	return err
}
