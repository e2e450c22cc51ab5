package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-lm/usher/internal/auth"
)

// authSchema holds the users and API tokens of package auth. These change
// rarely, so they bypass the group-commit writer and use the database
// directly; each change is its own durable transaction.
const authSchema = `
CREATE TABLE IF NOT EXISTS users (
	name          TEXT PRIMARY KEY,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	role        TEXT NOT NULL,
	secret_hash TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
`

var _ auth.Store = (*Store)(nil)

// Users returns every user.
func (s *Store) Users(ctx context.Context) ([]auth.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, password_hash, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	defer rows.Close()
	var out []auth.User
	for rows.Next() {
		var u auth.User
		var created string
		if err := rows.Scan(&u.Name, &u.Role, &u.PasswordHash, &created); err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		if u.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, fmt.Errorf("user %s: created_at: %w", u.Name, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// PutUser stores a user, replacing one with the same name.
func (s *Store) PutUser(ctx context.Context, u auth.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)`,
		u.Name, string(u.Role), u.PasswordHash, u.CreatedAt.UTC().Format(time.RFC3339Nano))
	return err
}

// DeleteUser removes a user.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	return err
}

// Tokens returns every API token.
func (s *Store) Tokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, secret_hash, created_at FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("load API tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.Token
	for rows.Next() {
		var t auth.Token
		var created string
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.SecretHash, &created); err != nil {
			return nil, fmt.Errorf("load API tokens: %w", err)
		}
		if t.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, fmt.Errorf("API token %s: created_at: %w", t.Name, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutToken stores an API token, replacing one with the same ID.
func (s *Store) PutToken(ctx context.Context, t auth.Token) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO api_tokens (id, name, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, string(t.Role), t.SecretHash, t.CreatedAt.UTC().Format(time.RFC3339Nano))
	return err
}

// DeleteToken removes an API token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	return err
}
