package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteBackend keeps events and usage in events.db in a node's data
// directory.
type sqliteBackend struct {
	db       *sql.DB
	inserter *inserter // the writer's
	lastID   int64     // writer only: the highest event id used
	upto     int64     // writer only: the latest time stored, in Unix nanoseconds
}

var _ Backend = (*sqliteBackend)(nil)

// openSQLite opens (creating if needed) the event database in dir.
func openSQLite(dir string) (*sqliteBackend, error) {
	// Created 0600 here: SQLite would follow the umask, and gives its -wal
	// and -shm files the database's mode.
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	f.Close()
	dsn := "file:" + filepath.Join(dir, FileName) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	db.SetMaxOpenConns(3) // the writer's inserts, its other work, and one reader at a time
	if err := createSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("create event log schema in %s: %w", dir, err)
	}
	b := &sqliteBackend{db: db}
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

// Prune implements Backend.
func (b *sqliteBackend) Prune(ctx context.Context, events, usage time.Time) error {
	if err := b.deleteBefore(ctx, events.UnixNano()); err != nil {
		return fmt.Errorf("delete old events: %w", err)
	}
	if _, err := b.db.ExecContext(ctx, `DELETE FROM usage WHERE minute < ?`, usage.Unix()); err != nil {
		return fmt.Errorf("delete old usage: %w", err)
	}
	return nil
}

// Close implements Backend.
func (b *sqliteBackend) Close() error {
	return errors.Join(b.inserter.close(), b.db.Close())
}
