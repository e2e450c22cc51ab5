package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/webhook"
)

// WebhooksFileName is the webhooks' database inside the data directory.
const WebhooksFileName = "webhooks.db"

// Webhooks keeps a single node's webhooks and their outbox in
// webhooks.db, apart from the ledger's usher.db so that deliveries never
// wait for checkouts nor checkouts for deliveries, with synchronous=FULL:
// a cursor moved is never moved back by a crash.
type Webhooks struct {
	db *sql.DB
}

var _ webhook.Store = (*Webhooks)(nil)

const webhooksSchema = `
CREATE TABLE IF NOT EXISTS webhooks (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_cursors (
	webhook TEXT PRIMARY KEY,
	after   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
	id         TEXT PRIMARY KEY,
	webhook    TEXT NOT NULL,
	last_event INTEGER NOT NULL,
	pending    INTEGER NOT NULL,
	created    INTEGER NOT NULL,
	data       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries (webhook, last_event);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (webhook, last_event) WHERE pending;
`

// OpenWebhooks opens (creating if needed) the webhooks' database in dir.
func OpenWebhooks(dir string) (*Webhooks, error) {
	path := filepath.Join(dir, WebhooksFileName)
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open webhooks: %w", err)
	}
	db.SetMaxOpenConns(2)
	if _, err := db.Exec(webhooksSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create webhooks schema in %s: %w", dir, err)
	}
	return &Webhooks{db: db}, nil
}

// Close closes the database.
func (s *Webhooks) Close() error { return s.db.Close() }

// Webhooks implements webhook.Store.
func (s *Webhooks) Webhooks(ctx context.Context) ([]usher.Webhook, error) {
	return queryJSON[usher.Webhook](ctx, s.db, `SELECT data FROM webhooks ORDER BY id`)
}

// PutWebhook implements webhook.Store.
func (s *Webhooks) PutWebhook(ctx context.Context, w usher.Webhook) error {
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT OR REPLACE INTO webhooks (id, data) VALUES (?, ?)`, w.ID, data)
	return wrap("store webhook", err)
}

// DeleteWebhook implements webhook.Store.
func (s *Webhooks) DeleteWebhook(ctx context.Context, id string) (bool, error) {
	var n int64
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_cursors WHERE webhook = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM deliveries WHERE webhook = ?`, id)
		return err
	})
	return n > 0, wrap("delete webhook", err)
}

// Cursor implements webhook.Store.
func (s *Webhooks) Cursor(ctx context.Context, id string) (int64, bool, error) {
	var after int64
	err := s.db.QueryRowContext(ctx, `SELECT after FROM webhook_cursors WHERE webhook = ?`, id).Scan(&after)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return after, err == nil, wrap("read webhook cursor", err)
}

// SetCursor implements webhook.Store.
func (s *Webhooks) SetCursor(ctx context.Context, id string, after int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO webhook_cursors (webhook, after) VALUES (?, ?)`, id, after)
	return wrap("store webhook cursor", err)
}

// PutDelivery implements webhook.Store.
func (s *Webhooks) PutDelivery(ctx context.Context, d usher.Delivery) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	pending := d.Status == usher.DeliveryPending
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO deliveries (id, webhook, last_event, pending, created, data) VALUES (?, ?, ?, ?, ?, ?)`,
			d.ID, d.Webhook, d.LastEvent, pending, d.Created.UnixNano(), data)
		if err != nil || pending {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_cursors (webhook, after) VALUES (?, ?)
			ON CONFLICT (webhook) DO UPDATE SET after = max(after, excluded.after)`, d.Webhook, d.LastEvent)
		return err
	})
	return wrap("store delivery", err)
}

// Delivery implements webhook.Store.
func (s *Webhooks) Delivery(ctx context.Context, id string) (usher.Delivery, bool, error) {
	out, err := queryJSON[usher.Delivery](ctx, s.db, `SELECT data FROM deliveries WHERE id = ?`, id)
	if err != nil || len(out) == 0 {
		return usher.Delivery{}, false, err
	}
	return out[0], true, nil
}

// Deliveries implements webhook.Store.
func (s *Webhooks) Deliveries(ctx context.Context, id string, pendingOnly bool, limit int) ([]usher.Delivery, error) {
	q := `SELECT data FROM deliveries WHERE webhook = ?`
	if pendingOnly {
		q += ` AND pending`
	}
	if limit <= 0 {
		limit = -1
	}
	return queryJSON[usher.Delivery](ctx, s.db, q+` ORDER BY last_event DESC, created DESC LIMIT ?`, id, limit)
}

// PruneDeliveries implements webhook.Store: by age, then per webhook
// from the last event of its (keep+1)-th latest delivery down, through
// the index.
func (s *Webhooks) PruneDeliveries(ctx context.Context, before time.Time, keep int) error {
	return wrap("prune deliveries", inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE NOT pending AND created < ?`, before.UnixNano()); err != nil {
			return err
		}
		var hooks []string
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT webhook FROM deliveries`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return err
			}
			hooks = append(hooks, h)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, h := range hooks {
			var cut int64
			err := tx.QueryRowContext(ctx, `SELECT last_event FROM deliveries WHERE webhook = ? ORDER BY last_event DESC LIMIT 1 OFFSET ?`, h, keep).Scan(&cut)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM deliveries WHERE webhook = ? AND NOT pending AND last_event <= ?`, h, cut)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// queryJSON decodes the one JSON column of each row into a T.
func queryJSON[T any](ctx context.Context, db *sql.DB, q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", data, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
