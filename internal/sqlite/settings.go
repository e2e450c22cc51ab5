package sqlite

import (
	"context"
	"fmt"
)

// Settings returns the runtime settings stored with SetSettings, by key.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("load settings: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SetSettings durably stores the values in set and deletes the keys in
// unset, in one transaction. A key in both is deleted.
func (s *Store) SetSettings(ctx context.Context, set map[string]string, unset []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store settings: %w", err)
	}
	defer tx.Rollback()
	for k, v := range set {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)`, k, v); err != nil {
			return fmt.Errorf("store setting %s: %w", k, err)
		}
	}
	for _, k := range unset {
		if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, k); err != nil {
			return fmt.Errorf("delete setting %s: %w", k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store settings: %w", err)
	}
	return nil
}
