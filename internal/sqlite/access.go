package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
)

// accessSchema holds who may use the seats: Licensee Secret bindings (the
// hash only, never the secret) and the users registered for features.
// They change rarely, outside the group-committed writes of leases.
const accessSchema = `
CREATE TABLE IF NOT EXISTS secret_bindings (
	license_id TEXT PRIMARY KEY,
	hash       TEXT NOT NULL,
	bound_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registrations (
	id               TEXT PRIMARY KEY,
	feature          TEXT NOT NULL,
	user             TEXT NOT NULL,
	registered_at    TEXT NOT NULL,
	last_checkout_at TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
`

// PutSecretBinding stores a Licensee Secret binding durably.
func (s *Store) PutSecretBinding(ctx context.Context, b usher.SecretBinding) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO secret_bindings (license_id, hash, bound_at) VALUES (?, ?, ?)`,
		b.LicenseID, b.Hash, b.BoundAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("store the licensee secret binding of %s: %w", b.LicenseID, err)
	}
	return nil
}

// DeleteSecretBinding removes a license's binding durably.
func (s *Store) DeleteSecretBinding(ctx context.Context, licenseID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM secret_bindings WHERE license_id = ?`, licenseID); err != nil {
		return fmt.Errorf("delete the licensee secret binding of %s: %w", licenseID, err)
	}
	return nil
}

// PutRegistrations stores registered users durably, in one transaction.
func (s *Store) PutRegistrations(ctx context.Context, regs []usher.Registration) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, r := range regs {
			last := ""
			if !r.LastCheckoutAt.IsZero() {
				last = r.LastCheckoutAt.UTC().Format(time.RFC3339Nano)
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO registrations (id, feature, user, registered_at, last_checkout_at) VALUES (?, ?, ?, ?, ?)`,
				usher.RegistrationID(r.Feature, r.User), r.Feature, r.User, r.RegisteredAt.UTC().Format(time.RFC3339Nano), last); err != nil {
				return fmt.Errorf("store registration of %s for %s: %w", r.User, r.Feature, err)
			}
		}
		return nil
	})
}

// DeleteRegistrations removes registrations durably, in one transaction.
func (s *Store) DeleteRegistrations(ctx context.Context, ids []string) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM registrations WHERE id = ?`, id); err != nil {
				return fmt.Errorf("delete registration %s: %w", id, err)
			}
		}
		return nil
	})
}

// inTx runs fn in a transaction of db, committed if fn returns nil.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// loadAccess reads the bindings and registrations into snap.
func (s *Store) loadAccess(ctx context.Context, snap *usher.Snapshot) error {
	rows, err := s.db.QueryContext(ctx, `SELECT license_id, hash, bound_at FROM secret_bindings`)
	if err != nil {
		return fmt.Errorf("load licensee secret bindings: %w", err)
	}
	for rows.Next() {
		var b usher.SecretBinding
		var at string
		if err = rows.Scan(&b.LicenseID, &b.Hash, &at); err == nil {
			b.BoundAt, err = time.Parse(time.RFC3339Nano, at)
		}
		if err != nil {
			rows.Close()
			return fmt.Errorf("load licensee secret bindings: %w", err)
		}
		snap.SecretBindings = append(snap.SecretBindings, b)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return s.loadRegistrations(ctx, snap)
}

func (s *Store) loadRegistrations(ctx context.Context, snap *usher.Snapshot) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, feature, user, registered_at, last_checkout_at FROM registrations`)
	if err != nil {
		return fmt.Errorf("load registrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r usher.Registration
		var at, last string
		if err = rows.Scan(&r.ID, &r.Feature, &r.User, &at, &last); err == nil {
			r.RegisteredAt, err = time.Parse(time.RFC3339Nano, at)
		}
		if err == nil && last != "" {
			r.LastCheckoutAt, err = time.Parse(time.RFC3339Nano, last)
		}
		if err != nil {
			return fmt.Errorf("load registrations: %w", err)
		}
		snap.Registrations = append(snap.Registrations, r)
	}
	return rows.Err()
}
