package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
)

func (s *Store) releasedKey(id string) string { return s.prefix + "released/" + id }

// PutReleased records durably that a license was released.
func (s *Store) PutReleased(ctx context.Context, r usher.ReleasedLicense) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode released license: %w", err)
	}
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(s.releasedKey(r.ID), string(v))}})
}

// loadReleased reads the released licenses at revision rev.
func (s *Store) loadReleased(ctx context.Context, rev int64) ([]usher.ReleasedLicense, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"released/", clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return nil, fmt.Errorf("load released licenses from etcd: %w", err)
	}
	out := make([]usher.ReleasedLicense, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r usher.ReleasedLicense
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("load released license %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}
