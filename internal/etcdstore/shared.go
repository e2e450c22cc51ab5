package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/usher-lm/usher/internal/auth"
)

// Shared keeps what every node of a cluster must agree on besides the
// ledger: users, API tokens and runtime settings. Unlike Store, its writes
// are not fenced: they are rare, made by an admin, and any node may make
// them.
type Shared struct {
	cli    *clientv3.Client
	prefix string
}

var (
	_ auth.Store       = (*Shared)(nil)
	_ auth.UserCreator = (*Shared)(nil)
)

// NewShared returns the shared state of a cluster.
func NewShared(cli *clientv3.Client, cluster string) *Shared {
	return &Shared{cli: cli, prefix: Prefix(cluster)}
}

// transient reports whether an etcd error may go away by itself: the
// cluster is electing a raft leader (as it does while it forms), or a
// request timed out on the way.
func transient(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeoutWaitAppliedIndex):
		return true
	}
	return status.Code(err) == codes.Unavailable
}

// retry calls fn until it succeeds, fails for good, or ctx ends: the
// shared state is written while the cluster forms, and every write here
// may be repeated.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// list decodes every JSON value under dir into a new T, passed to add.
func list[T any](ctx context.Context, s *Shared, dir string, add func(T)) error {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.prefix+dir, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return fmt.Errorf("read %s from etcd: %w", dir, err)
	}
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return fmt.Errorf("etcd key %s: %w", kv.Key, err)
		}
		add(v)
	}
	return nil
}

func (s *Shared) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	err = retry(ctx, func() error { _, err := s.cli.Put(ctx, s.prefix+key, string(b)); return err })
	if err != nil {
		return fmt.Errorf("write %s to etcd: %w", key, err)
	}
	return nil
}

func (s *Shared) del(ctx context.Context, key string) error {
	if err := retry(ctx, func() error { _, err := s.cli.Delete(ctx, s.prefix+key); return err }); err != nil {
		return fmt.Errorf("delete %s from etcd: %w", key, err)
	}
	return nil
}

// Users returns every user.
func (s *Shared) Users(ctx context.Context) ([]auth.User, error) {
	var out []auth.User
	err := list(ctx, s, "users/", func(u auth.User) { out = append(out, u) })
	return out, err
}

// PutUser stores a user, replacing one with the same name.
func (s *Shared) PutUser(ctx context.Context, u auth.User) error {
	return s.put(ctx, "users/"+u.Name, u)
}

// CreateUser stores a user unless one of that name exists, and reports
// whether it did: every node of a new cluster creates the bootstrap user,
// and only the first one's must count.
func (s *Shared) CreateUser(ctx context.Context, u auth.User) (bool, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return false, err
	}
	key := s.prefix + "users/" + u.Name
	var resp *clientv3.TxnResponse
	err = retry(ctx, func() (err error) {
		resp, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(b))).Else(clientv3.OpGet(key)).Commit()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("write users/%s to etcd: %w", u.Name, err)
	}
	if resp.Succeeded {
		return true, nil
	}
	// An attempt that timed out may have stored this very user.
	kvs := resp.Responses[0].GetResponseRange().Kvs
	return len(kvs) == 1 && string(kvs[0].Value) == string(b), nil
}

// DeleteUser removes a user.
func (s *Shared) DeleteUser(ctx context.Context, name string) error {
	return s.del(ctx, "users/"+name)
}

// Tokens returns every API token.
func (s *Shared) Tokens(ctx context.Context) ([]auth.Token, error) {
	var out []auth.Token
	err := list(ctx, s, "tokens/", func(t auth.Token) { out = append(out, t) })
	return out, err
}

// PutToken stores a token, replacing one with the same ID.
func (s *Shared) PutToken(ctx context.Context, t auth.Token) error {
	return s.put(ctx, "tokens/"+t.ID, t)
}

// DeleteToken removes a token.
func (s *Shared) DeleteToken(ctx context.Context, id string) error {
	return s.del(ctx, "tokens/"+id)
}

// Settings returns the runtime settings by key.
func (s *Shared) Settings(ctx context.Context) (map[string]string, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.prefix+"settings/", clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read settings from etcd: %w", err)
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), s.prefix+"settings/")] = string(kv.Value)
	}
	return out, nil
}

// SetSettings sets and removes runtime settings in one transaction. A key
// in both is removed, and a key is named once: etcd refuses a transaction
// that names a key twice.
func (s *Shared) SetSettings(ctx context.Context, set map[string]string, unset []string) error {
	ops := make([]clientv3.Op, 0, len(set)+len(unset))
	for k, v := range set {
		if !slices.Contains(unset, k) {
			ops = append(ops, clientv3.OpPut(s.prefix+"settings/"+k, v))
		}
	}
	for i, k := range unset {
		if !slices.Contains(unset[:i], k) {
			ops = append(ops, clientv3.OpDelete(s.prefix+"settings/"+k))
		}
	}
	if err := retry(ctx, func() error { _, err := s.cli.Txn(ctx).Then(ops...).Commit(); return err }); err != nil {
		return fmt.Errorf("write settings to etcd: %w", err)
	}
	return nil
}

// Secret returns the cluster's secret of that name: the one stored, or
// local if none is, which it then stores. Every node thus ends up with the
// first node's secret.
func (s *Shared) Secret(ctx context.Context, name, local string) (string, error) {
	key := s.prefix + "secrets/" + name
	var resp *clientv3.TxnResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, local)).
			Else(clientv3.OpGet(key)).Commit()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read the cluster's %s from etcd: %w", name, err)
	}
	if resp.Succeeded {
		return local, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return "", fmt.Errorf("the cluster's %s vanished from etcd while reading it: retry", name)
	}
	return string(kvs[0].Value), nil
}

// WatchSettings calls changed after the runtime settings change in etcd,
// whichever node changed them, until ctx ends. When the watch breaks (etcd
// lost its leader, or the node its connection) it starts again a second
// later and calls changed once, for what it may have missed.
func (s *Shared) WatchSettings(ctx context.Context, changed func()) {
	for {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range s.cli.Watch(wctx, s.prefix+"settings/", clientv3.WithPrefix()) {
			if resp.Err() != nil {
				break
			}
			if len(resp.Events) > 0 {
				changed()
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		changed()
	}
}
