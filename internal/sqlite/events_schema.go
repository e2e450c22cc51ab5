package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// eventsSchemaVersion is the events.db layout this package writes, kept in
// PRAGMA user_version. Version 0 is the first layout, which stored each
// event as a JSON document; OpenEvents converts it. Version 2 added the
// waited column (milliseconds a checkout waited in line), NULL in events
// stored before.
const eventsSchemaVersion = 2

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
const eventsSchema = `
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
	reason     TEXT,
	waited     INTEGER
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

// migrateEventsV0 converts the first layout (id AUTOINCREMENT, time, type,
// feature, data as JSON) in place. upto is the running maximum of time.
const migrateEventsV0 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value)
SELECT 'last_id', seq FROM sqlite_sequence WHERE name = 'events';
ALTER TABLE events RENAME TO events_v0;
DROP INDEX IF EXISTS events_time;
` + eventsSchema + `
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

// migrateEventsV1 adds the waited column.
const migrateEventsV1 = `ALTER TABLE events ADD COLUMN waited INTEGER;`

// createEventsSchema creates the tables, or converts an older layout, and
// records the version.
func createEventsSchema(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	switch {
	case version == eventsSchemaVersion:
		return nil
	case version > eventsSchemaVersion:
		return fmt.Errorf("%s was written by a newer Usher (layout %d, this one knows %d): upgrade Usher, or move the file away to start a new event log", EventsFileName, version, eventsSchemaVersion)
	}
	var old int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'data'`).Scan(&old); err != nil {
		return err
	}
	ddl := eventsSchema
	switch {
	case old > 0:
		ddl = migrateEventsV0
	case version == 1:
		ddl = migrateEventsV1
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(ddl); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, eventsSchemaVersion)); err != nil {
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

// firstIDFrom returns the smallest id whose upto is at or after t (Unix
// nanoseconds), or one past the last id if there is none: every event
// before it is older than t. It is a binary search over the id, since upto
// grows with it.
func firstIDFrom(ctx context.Context, q *sql.DB, t int64) (int64, error) {
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
func (b *Events) deleteBefore(ctx context.Context, t int64) error {
	// The bound is found before the transaction: a transaction that reads
	// first and writes later fails at once, busy timeout or not, when the
	// writer commits in between. The bound stays right meanwhile, since
	// new events only get larger ids.
	first, err := firstIDFrom(ctx, b.db, t)
	if err != nil {
		return err
	}
	return b.deleteBelow(ctx, first)
}

// deleteBelow deletes the events before id first, keeping the highest id
// deleted in meta.
func (b *Events) deleteBelow(ctx context.Context, first int64) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) SELECT 'last_id', id FROM events WHERE id < ? ORDER BY id DESC LIMIT 1
		ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)`, first); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id < ?`, first); err != nil {
		return err
	}
	return tx.Commit()
}
