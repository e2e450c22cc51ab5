package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// EventsFileName is the event database inside the data directory.
const EventsFileName = "events.db"

// Events is the event log's backend on a single node: events and usage
// history in events.db in the data directory, apart from the store's
// usher.db, with synchronous=NORMAL, since losing the last events to a
// power cut costs history, never seats. Only the Log's writer appends.
type Events struct {
	db       *sql.DB
	inserter *inserter // the writer's
	lastID   int64     // writer only: the highest event id used
	upto     int64     // writer only: the latest time stored, in Unix nanoseconds
	maxSize  int64     // the most bytes the pages in use may take; see SetMaxSize
}

var _ eventlog.Backend = (*Events)(nil)

// OpenEvents opens (creating, or converting from an older layout, if
// needed) the event database in dir. The Log opened on it closes it.
func OpenEvents(dir string) (*Events, error) {
	if err := createPrivate(filepath.Join(dir, EventsFileName)); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, EventsFileName) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	db.SetMaxOpenConns(3) // the writer's inserts, its other work, and one reader at a time
	if err := createEventsSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("create event log schema in %s: %w", dir, err)
	}
	b := &Events{db: db, maxSize: DefaultEventsMaxSize}
	if b.lastID, b.upto, err = readHighWater(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log: read the last event id: %w", err)
	}
	if b.inserter, err = openInserter(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log: prepare: %w", err)
	}
	return b, nil
}

// Prune implements eventlog.Backend. Besides what is older than the
// retention, it deletes the oldest events while the database is over the
// size SetMaxSize gives.
func (b *Events) Prune(ctx context.Context, events, usage time.Time) error {
	if err := b.deleteBefore(ctx, events.UnixNano()); err != nil {
		return fmt.Errorf("delete old events: %w", err)
	}
	if _, err := b.db.ExecContext(ctx, `DELETE FROM usage WHERE minute < ?`, usage.Unix()); err != nil {
		return fmt.Errorf("delete old usage: %w", err)
	}
	return b.trimToSize(ctx)
}

// Close implements eventlog.Backend.
func (b *Events) Close() error {
	return errors.Join(b.inserter.close(), b.db.Close())
}

// Append stores events in one transaction, numbered on from the highest
// id used: the writer numbers them itself so that ids are known without
// asking per row. The ids and upto advance only once the transaction has
// committed.
func (b *Events) Append(_ context.Context, batch []usher.Event) (int64, int, error) {
	first := b.lastID + 1
	upto, err := b.inserter.insert(batch, first, b.upto)
	if err != nil {
		return 0, 0, err
	}
	b.lastID, b.upto = b.lastID+int64(len(batch)), upto
	return first, len(batch), nil
}

// Query implements eventlog.Backend.
func (b *Events) Query(ctx context.Context, f eventlog.Filter) ([]eventlog.Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if !f.Since.IsZero() {
		since := f.Since.UnixNano()
		first, err := firstIDFrom(ctx, b.db, since)
		if err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		add("id >= ?", first)
		add("time >= ?", since)
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixNano())
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	if f.Feature != "" {
		add("feature = ?", f.Feature)
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(",?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	latest := f.Latest()
	q := "SELECT " + eventColumns + " FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if latest {
		q += " ORDER BY id DESC"
	} else {
		q += " ORDER BY id"
	}
	q += fmt.Sprintf(" LIMIT %d", f.Limit)
	out, err := b.scan(ctx, q, args)
	if latest {
		slices.Reverse(out)
	}
	return out, err
}

const eventColumns = `id, time, type, IFNULL(feature, ''), IFNULL(lease_id, ''), IFNULL(client_id, ''),
	IFNULL(user, ''), IFNULL(host, ''), IFNULL(pid, 0), IFNULL(license_id, ''), IFNULL(reason, ''), IFNULL(waited, 0)`

func (b *Events) scan(ctx context.Context, q string, args []any) ([]eventlog.Record, error) {
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	out := []eventlog.Record{}
	for rows.Next() {
		var r eventlog.Record
		var t int64
		c := &r.Client
		if err := rows.Scan(&r.ID, &t, &r.Type, &r.Feature, &r.LeaseID, &c.ID, &c.User, &c.Host, &c.PID, &r.LicenseID, &r.Reason, &r.WaitedMS); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		r.Time = time.Unix(0, t).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Usage implements eventlog.Backend.
func (b *Events) Usage(ctx context.Context, q eventlog.UsageQuery) ([]eventlog.UsagePoint, error) {
	step := int64(max(q.Step, time.Minute) / time.Second)
	from, to := int64(0), int64(1<<62)
	if !q.From.IsZero() {
		from = q.From.Unix()
	}
	if !q.To.IsZero() {
		to = q.To.Unix()
	}
	sqlq := `SELECT feature, (minute / ?) * ? AS t, MAX(peak), SUM(checkouts), SUM(denials)
		FROM usage WHERE minute >= ? AND minute < ? AND (? = '' OR feature = ?)
		GROUP BY feature, t ORDER BY t, feature`
	rows, err := b.db.QueryContext(ctx, sqlq, step, step, from, to, q.Feature, q.Feature)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	out := []eventlog.UsagePoint{}
	for rows.Next() {
		var p eventlog.UsagePoint
		var t int64
		if err := rows.Scan(&p.Feature, &t, &p.Peak, &p.Checkouts, &p.Denials); err != nil {
			return nil, fmt.Errorf("query usage: %w", err)
		}
		p.Time = time.Unix(t, 0).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// AddUsage implements eventlog.Backend.
func (b *Events) AddUsage(ctx context.Context, pts []eventlog.UsagePoint) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, p := range pts {
		_, err := tx.ExecContext(ctx, `INSERT INTO usage (feature, minute, peak, checkouts, denials) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (feature, minute) DO UPDATE SET peak = MAX(peak, excluded.peak),
			checkouts = checkouts + excluded.checkouts, denials = denials + excluded.denials`,
			p.Feature, p.Time.Unix(), p.Peak, p.Checkouts, p.Denials)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}
