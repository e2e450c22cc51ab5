package sqlite

import (
	"context"
	"fmt"
	"time"
)

// clockSchema keeps one row: the latest wall-clock time the server has
// seen, in Unix nanoseconds.
const clockSchema = `
CREATE TABLE IF NOT EXISTS clock (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	latest INTEGER NOT NULL
);
`

// LatestTime returns the latest time stored by RaiseLatestTime; zero if
// none was.
func (s *Store) LatestTime(ctx context.Context) (time.Time, error) {
	var ns int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(latest), 0) FROM clock`).Scan(&ns)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the latest time seen: %w", err)
	}
	if ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, ns).UTC(), nil
}

// RaiseLatestTime durably stores t as the latest time seen, unless a
// later one is stored already.
func (s *Store) RaiseLatestTime(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO clock (id, latest) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET latest = max(latest, excluded.latest)`, t.UnixNano())
	if err != nil {
		return fmt.Errorf("store the latest time seen: %w", err)
	}
	return nil
}
