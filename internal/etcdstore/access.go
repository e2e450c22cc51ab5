package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
)

func (s *Store) bindingKey(licenseID string) string { return s.prefix + "secret-bindings/" + licenseID }
func (s *Store) registrationKey(id string) string   { return s.prefix + "registrations/" + id }

// PutSecretBinding stores a Licensee Secret binding durably, under the
// fence like every change of the ledger.
func (s *Store) PutSecretBinding(ctx context.Context, b usher.SecretBinding) error {
	v, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode licensee secret binding: %w", err)
	}
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(s.bindingKey(b.LicenseID), string(v))}})
}

// DeleteSecretBinding removes a license's binding durably.
func (s *Store) DeleteSecretBinding(ctx context.Context, licenseID string) error {
	return s.writers.Submit(ctx, op{deletes: []string{s.bindingKey(licenseID)}})
}

// PutRegistrations stores registered users durably.
func (s *Store) PutRegistrations(ctx context.Context, regs []usher.Registration) error {
	puts := make([]clientv3.Op, 0, len(regs))
	for _, r := range regs {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode registration: %w", err)
		}
		puts = append(puts, clientv3.OpPut(s.registrationKey(usher.RegistrationID(r.Feature, r.User)), string(v)))
	}
	return s.writers.Submit(ctx, op{puts: puts})
}

// DeleteRegistrations removes registrations durably.
func (s *Store) DeleteRegistrations(ctx context.Context, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.registrationKey(id)
	}
	return s.writers.Submit(ctx, op{deletes: keys})
}

// loadAccess reads the bindings and registrations at revision rev.
func (s *Store) loadAccess(ctx context.Context, rev int64, snap *usher.Snapshot) error {
	binds, err := s.cli.Get(ctx, s.prefix+"secret-bindings/", clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return fmt.Errorf("load licensee secret bindings from etcd: %w", err)
	}
	for _, kv := range binds.Kvs {
		var b usher.SecretBinding
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return fmt.Errorf("load licensee secret binding %s: %w", kv.Key, err)
		}
		snap.SecretBindings = append(snap.SecretBindings, b)
	}
	regs, err := s.cli.Get(ctx, s.prefix+"registrations/", clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return fmt.Errorf("load registrations from etcd: %w", err)
	}
	for _, kv := range regs.Kvs {
		var r usher.Registration
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("load registration %s: %w", kv.Key, err)
		}
		r.ID = usher.RegistrationID(r.Feature, r.User)
		snap.Registrations = append(snap.Registrations, r)
	}
	return nil
}
