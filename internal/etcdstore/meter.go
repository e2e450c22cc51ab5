package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
)

func (s *Store) consumptionKey(id string) string  { return s.prefix + "consumptions/" + id }
func (s *Store) licenseStateKey(id string) string { return s.prefix + "license_states/" + id }

// PutConsumption stores a consumption durably.
func (s *Store) PutConsumption(ctx context.Context, c usher.Consumption) error {
	return s.putJSON(ctx, s.consumptionKey(c.ID), c)
}

// DeleteConsumptions removes consumptions durably.
func (s *Store) DeleteConsumptions(ctx context.Context, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.consumptionKey(id)
	}
	return s.writers.Submit(ctx, op{deletes: keys})
}

// PutLicenseState stores a license's state durably.
func (s *Store) PutLicenseState(ctx context.Context, st usher.LicenseState) error {
	return s.putJSON(ctx, s.licenseStateKey(st.ID), st)
}

func (s *Store) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(key, string(b))}})
}

// loadMeter reads the consumptions and license states at revision rev.
func (s *Store) loadMeter(ctx context.Context, rev int64, snap *usher.Snapshot) error {
	if err := loadJSON(ctx, s, "consumptions/", rev, &snap.Consumptions); err != nil {
		return err
	}
	return loadJSON(ctx, s, "license_states/", rev, &snap.LicenseStates)
}

func loadJSON[T any](ctx context.Context, s *Store, dir string, rev int64, out *[]T) error {
	resp, err := s.cli.Get(ctx, s.prefix+dir, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return fmt.Errorf("load %s from etcd: %w", dir, err)
	}
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return fmt.Errorf("load %s: %w", kv.Key, err)
		}
		*out = append(*out, v)
	}
	return nil
}
