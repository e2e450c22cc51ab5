package eventlog

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"

	usher "github.com/usher-lm/usher"
)

// schemaVersion is the events.db layout this package writes, kept in
// PRAGMA user_version. Version 0 is the first layout, which stored each
// event as a JSON document; Open converts it.
const schemaVersion = 1

// Events are stored one column per field, so that storing one costs no
// encoding and reading one no decoding. Empty fields are stored as NULL,
// which is cheaper to bind than an empty string.
//
// There is no index but the id: the writer numbers events in the order it
// stores them, and upto, the latest time of the event and every earlier
// one, grows with the id, so a time bound turns into an id bound by binary
// search (firstIDFrom) and retention deletes a range of ids. An index on
// time would cost every insert a second B-tree update. upto is stored as
// behind = upto - time, which is zero or small and so takes a byte or
// two, not eight.
//
// meta keeps the highest id ever used, so that ids are never reused after
// retention deleted every event.
const schema = `
CREATE TABLE IF NOT EXISTS events (
	id         INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	behind     INTEGER NOT NULL,
	type       TEXT NOT NULL,
	feature    TEXT,
	lease_id   TEXT,
	client_id  TEXT,
	user       TEXT,
	host       TEXT,
	pid        INTEGER,
	license_id TEXT,
	reason     TEXT
);
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
	feature   TEXT NOT NULL,
	minute    INTEGER NOT NULL,
	peak      INTEGER NOT NULL DEFAULT 0,
	checkouts INTEGER NOT NULL DEFAULT 0,
	denials   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (feature, minute)
) WITHOUT ROWID;
`

// migrateV0 converts the first layout (id AUTOINCREMENT, time, type,
// feature, data as JSON) in place. upto is the running maximum of time.
const migrateV0 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value)
SELECT 'last_id', seq FROM sqlite_sequence WHERE name = 'events';
ALTER TABLE events RENAME TO events_v0;
DROP INDEX IF EXISTS events_time;
` + schema + `
INSERT INTO events (id, time, behind, type, feature, lease_id, client_id, user, host, pid, license_id, reason)
SELECT id, time, MAX(time) OVER (ORDER BY id) - time, type,
	NULLIF(feature, ''),
	NULLIF(json_extract(data, '$.lease_id'), ''),
	NULLIF(json_extract(data, '$.client.id'), ''),
	NULLIF(json_extract(data, '$.client.user'), ''),
	NULLIF(json_extract(data, '$.client.host'), ''),
	NULLIF(json_extract(data, '$.client.pid'), 0),
	NULLIF(json_extract(data, '$.license_id'), ''),
	NULLIF(json_extract(data, '$.reason'), '')
FROM events_v0;
DROP TABLE events_v0;
`

// createSchema creates the tables, or converts an older layout, and
// records the version.
func createSchema(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	switch {
	case version == schemaVersion:
		return nil
	case version > schemaVersion:
		return fmt.Errorf("%s was written by a newer Usher (layout %d, this one knows %d): upgrade Usher, or move the file away to start a new event log", FileName, version, schemaVersion)
	}
	var old int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'data'`).Scan(&old); err != nil {
		return err
	}
	ddl := schema
	if old > 0 {
		ddl = migrateV0
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(ddl); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// readHighWater returns the highest id ever used and the upto of the
// latest event, from which the writer numbers and times on.
func readHighWater(db *sql.DB) (lastID, upto int64, err error) {
	err = db.QueryRow(`SELECT
		MAX(COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT value FROM meta WHERE key = 'last_id'), 0)),
		COALESCE((SELECT time + behind FROM events ORDER BY id DESC LIMIT 1), 0)`).Scan(&lastID, &upto)
	return lastID, upto, err
}

const (
	columns   = "id, time, behind, type, feature, lease_id, client_id, user, host, pid, license_id, reason"
	insertSQL = "INSERT INTO events (" + columns + ") VALUES "
	// rowArgs is how many arguments a row takes: every column but the id,
	// which is the statement's first argument plus the row's place, so
	// that numbering costs no binding.
	rowArgs = 11
)

// insertRows is the most events one INSERT statement carries: one
// statement per event would cost most of the writer's time. There is a
// statement for every power of two up to it, so that any batch takes a
// few statements.
const (
	insertRows  = 1 << insertSizes
	insertSizes = 7
)

// insertStatement returns an INSERT of n rows.
func insertStatement(n int) string {
	var b strings.Builder
	b.WriteString(insertSQL)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(?1+%d%s)", i, strings.Repeat(",?", rowArgs))
	}
	return b.String()
}

// prepareInserts returns the INSERT of 1<<k rows for every k up to
// insertSizes.
func prepareInserts(db *sql.DB) ([]*sql.Stmt, error) {
	stmts := make([]*sql.Stmt, insertSizes+1)
	for k := range stmts {
		st, err := db.Prepare(insertStatement(1 << k))
		if err != nil {
			for _, st := range stmts[:k] {
				st.Close()
			}
			return nil, err
		}
		stmts[k] = st
	}
	return stmts, nil
}

// text binds an empty string as NULL.
func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// appendArgs appends the column values of one event, but for its id.
func appendArgs(args []any, upto int64, ev *usher.Event) []any {
	var pid any
	if ev.Client.PID != 0 {
		pid = int64(ev.Client.PID)
	}
	t := ev.Time.UnixNano()
	return append(args, t, upto-t, ev.Type, text(ev.Feature), text(ev.LeaseID),
		text(ev.Client.ID), text(ev.Client.User), text(ev.Client.Host), pid, text(ev.LicenseID), text(ev.Reason))
}

// insert stores events in one transaction, numbered on from the highest id
// used: the writer numbers them itself so that ids are known without
// asking per row. The ids and upto advance only once the transaction has
// committed.
func (l *Log) insert(batch []usher.Event) error {
	tx, err := l.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upto := l.upto
	for start := 0; start < len(batch); {
		k := min(bits.Len(uint(len(batch)-start))-1, insertSizes)
		rows := batch[start : start+1<<k]
		args := append(l.args[:0], l.lastID+int64(start)+1)
		for i := range rows {
			upto = max(upto, rows[i].Time.UnixNano())
			args = appendArgs(args, upto, &rows[i])
		}
		_, err := tx.Stmt(l.inserts[k]).Exec(args...)
		clear(args)
		if err != nil {
			return err
		}
		start += len(rows)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	l.lastID, l.upto = l.lastID+int64(len(batch)), upto
	return nil
}

// firstIDFrom returns the smallest id whose upto is at or after t (Unix
// nanoseconds), or one past the last id if there is none: every event
// before it is older than t. It is a binary search over the id, since upto
// grows with it.
func firstIDFrom(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, t int64) (int64, error) {
	var lo, hi int64 // the answer is in [lo, hi]
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MIN(id), 1), COALESCE(MAX(id), 0) + 1 FROM events`).Scan(&lo, &hi); err != nil {
		return 0, err
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		var id, upto int64
		err := q.QueryRowContext(ctx, `SELECT id, time + behind FROM events WHERE id >= ? ORDER BY id LIMIT 1`, mid).Scan(&id, &upto)
		if err != nil {
			return 0, err
		}
		if upto >= t {
			hi = mid
		} else {
			lo = id + 1
		}
	}
	return lo, nil
}

// deleteBefore deletes the events older than t (Unix nanoseconds), as the
// range of ids before the first whose upto reaches t. An event stored
// after a newer one and older than t by less than the gap between them
// goes with the next pass. The highest id deleted is kept in meta.
func (l *Log) deleteBefore(ctx context.Context, t int64) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	first, err := firstIDFrom(ctx, tx, t)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) SELECT 'last_id', id FROM events WHERE id < ? ORDER BY id DESC LIMIT 1
		ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)`, first); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id < ?`, first); err != nil {
		return err
	}
	return tx.Commit()
}
