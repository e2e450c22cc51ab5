package sqlite

import (
	"context"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
)

// PutBan stores a ban durably.
func (s *Store) PutBan(ctx context.Context, b usher.Ban) error {
	return s.writer.Submit(ctx, op{kind: opPutBan, ban: b})
}

// DeleteBans removes bans durably.
func (s *Store) DeleteBans(ctx context.Context, ids []string) error {
	return s.writer.Submit(ctx, op{kind: opDeleteBan, ids: ids})
}

func (s *Store) loadBans(ctx context.Context) ([]usher.Ban, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, feature, user, host, created_at, until FROM bans`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usher.Ban
	for rows.Next() {
		var b usher.Ban
		var created, until string
		if err := rows.Scan(&b.ID, &b.Feature, &b.User, &b.Host, &created, &until); err != nil {
			return nil, err
		}
		if b.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, fmt.Errorf("ban %s: created_at: %w", b.ID, err)
		}
		if b.Until, err = time.Parse(time.RFC3339Nano, until); err != nil {
			return nil, fmt.Errorf("ban %s: until: %w", b.ID, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
