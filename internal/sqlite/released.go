package sqlite

import (
	"context"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
)

// PutReleased records durably that a license was released.
func (s *Store) PutReleased(ctx context.Context, r usher.ReleasedLicense) error {
	return s.writer.Submit(ctx, op{kind: opPutReleased, rel: &r})
}

func (s *Store) loadReleased(ctx context.Context) ([]usher.ReleasedLicense, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, released_at, receipt FROM released_licenses ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usher.ReleasedLicense
	for rows.Next() {
		var r usher.ReleasedLicense
		var at, receipt string
		if err := rows.Scan(&r.ID, &at, &receipt); err != nil {
			return nil, err
		}
		if r.ReleasedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("released license %s: released_at: %w", r.ID, err)
		}
		r.Receipt = []byte(receipt)
		out = append(out, r)
	}
	return out, rows.Err()
}
