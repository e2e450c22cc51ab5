package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
)

func (s *Store) banKey(id string) string { return s.prefix + "bans/" + id }

// PutBan stores a ban durably.
func (s *Store) PutBan(ctx context.Context, b usher.Ban) error {
	v, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode ban: %w", err)
	}
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(s.banKey(b.ID), string(v))}})
}

// DeleteBans removes bans durably.
func (s *Store) DeleteBans(ctx context.Context, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.banKey(id)
	}
	return s.writers.Submit(ctx, op{deletes: keys})
}

// loadBans reads the bans at revision rev.
func (s *Store) loadBans(ctx context.Context, rev int64) ([]usher.Ban, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"bans/", clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return nil, fmt.Errorf("load bans from etcd: %w", err)
	}
	out := make([]usher.Ban, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var b usher.Ban
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("load ban %s: %w", kv.Key, err)
		}
		out = append(out, b)
	}
	return out, nil
}
