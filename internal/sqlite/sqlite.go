// Package sqlite is Usher's embedded store: one SQLite database in WAL mode
// with synchronous=FULL, written by a single goroutine that commits the
// changes of all concurrent callers in one transaction (group commit, see
// package groupcommit), so that many checkouts share one fsync.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/groupcommit"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "usher.db"

// maxBatch bounds the changes one transaction commits.
const maxBatch = 4096

const schema = `
CREATE TABLE IF NOT EXISTS licenses (
	id       TEXT PRIMARY KEY,
	text     TEXT NOT NULL,
	added_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
	id        TEXT PRIMARY KEY,
	feature   TEXT NOT NULL,
	client_id TEXT NOT NULL,
	user      TEXT NOT NULL DEFAULT '',
	host      TEXT NOT NULL DEFAULT '',
	pid       INTEGER NOT NULL DEFAULT 0,
	issued_at TEXT NOT NULL,
	owner     TEXT NOT NULL DEFAULT '',
	address   TEXT NOT NULL DEFAULT '',
	terms     TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bans (
	id         TEXT PRIMARY KEY,
	feature    TEXT NOT NULL DEFAULT '',
	user       TEXT NOT NULL DEFAULT '',
	host       TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	until      TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS released_licenses (
	id          TEXT PRIMARY KEY,
	released_at TEXT NOT NULL,
	receipt     TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
`

// ErrClosed is returned by calls made after Close.
var ErrClosed = groupcommit.ErrClosed

// Options configure a Store.
type Options struct {
	// Logger receives each committed batch at debug level and each failed
	// one at error level; default discards.
	Logger *slog.Logger
}

// Store is the SQLite implementation of usher.Store.
type Store struct {
	db     *sql.DB
	w      *writerConn // the writer goroutine's own connection
	writer *groupcommit.Batcher[op]
	once   sync.Once
	now    func() time.Time
}

var _ usher.Store = (*Store)(nil)

type opKind int

const (
	opPutLease opKind = iota
	opDeleteLease
	opPutLicense
	opDeleteLicense
	opPutBan
	opDeleteBan
	opPutConsumption
	opDeleteConsumption
	opPutLicenseState
	opPutReleased
)

// op is one change waiting for the writer.
type op struct {
	kind  opKind
	lease usher.Lease
	ids   []string
	lic   usher.LicenseRecord
	ban   usher.Ban
	cons  usher.Consumption
	state []byte                 // a usher.LicenseState as JSON, with its ID in ids
	rel   *usher.ReleasedLicense // opPutReleased only; a pointer keeps every other op small
}

// Open opens (creating if needed) the database in dir and starts its
// writer, as OpenOptions does with no options.
func Open(dir string) (*Store, error) { return OpenOptions(dir, Options{}) }

// OpenOptions opens (creating if needed) the database in dir and starts
// its writer. Close stops it.
func OpenOptions(dir string, opts Options) (*Store, error) {
	if err := createPrivate(filepath.Join(dir, FileName)); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, FileName) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// The writer keeps one connection; the others serve startup reads and
	// the rare writes of users, tokens and settings.
	db.SetMaxOpenConns(3)
	if _, err := db.Exec(schema + authSchema + meterSchema + accessSchema + clockSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", dir, err)
	}
	if err := addLeaseColumns(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrade the leases table in %s: %w", dir, err)
	}
	s := &Store{db: db, now: time.Now}
	if s.w, err = openWriterConn(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	// One writer: SQLite takes one write transaction at a time.
	s.writer = groupcommit.New(groupcommit.Options[op]{
		Commit: s.commit, MaxSize: maxBatch, Name: "sqlite", Logger: opts.Logger,
	})
	return s, nil
}

// addedLeaseColumns were added to the leases table after its first
// release; a database made before lacks them.
var addedLeaseColumns = [...]string{"owner", "address", "terms"}

// addLeaseColumns adds the columns a database made by an earlier release
// lacks. Its leases get empty values: no owner, no address.
func addLeaseColumns(db *sql.DB) error {
	for _, col := range addedLeaseColumns {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('leases') WHERE name = ?`, col).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.Exec(`ALTER TABLE leases ADD COLUMN ` + col + ` TEXT NOT NULL DEFAULT ''`); err != nil {
				return err
			}
		}
	}
	return nil
}

// createPrivate creates the database file with mode 0600 unless it exists:
// SQLite would create it as the umask says, and gives its -wal and -shm
// files the database's mode. An empty file is an empty database.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// Close stops the writer after the batch in flight and closes the
// database. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.writer.Close()
		err = errors.Join(s.w.close(), s.db.Close())
	})
	return err
}

func (s *Store) commit(batch []op) error {
	return s.w.commit(func(exec func(opKind, ...driver.Value) error) error {
		for i := range batch {
			if err := s.apply(exec, &batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) apply(exec func(opKind, ...driver.Value) error, o *op) error {
	if ok, err := applyMeter(exec, o); ok {
		return err
	}
	switch o.kind {
	case opPutLease:
		l := o.lease
		terms, err := encodeTerms(l.LeaseTerms)
		if err != nil {
			return err
		}
		return exec(o.kind, l.ID, l.Feature, l.Client.ID, l.Client.User, l.Client.Host, int64(l.Client.PID), l.IssuedAt.UTC().Format(time.RFC3339Nano),
			l.Owner.String(), l.Addr, terms)
	case opPutLicense:
		return exec(o.kind, o.lic.ID, string(o.lic.Text), s.now().UTC().Format(time.RFC3339))
	case opPutReleased:
		return exec(o.kind, o.rel.ID, o.rel.ReleasedAt.UTC().Format(time.RFC3339Nano), string(o.rel.Receipt))
	case opPutBan:
		b := o.ban
		return exec(o.kind, b.ID, b.Feature, b.User, b.Host, b.CreatedAt.UTC().Format(time.RFC3339Nano), b.Until.UTC().Format(time.RFC3339Nano))
	}
	for _, id := range o.ids { // the deletes
		if err := exec(o.kind, id); err != nil {
			return err
		}
	}
	return nil
}

// PutLease stores a lease durably.
func (s *Store) PutLease(ctx context.Context, l usher.Lease) error {
	return s.writer.Submit(ctx, op{kind: opPutLease, lease: l})
}

// DeleteLeases removes leases durably.
func (s *Store) DeleteLeases(ctx context.Context, ids []string) error {
	return s.writer.Submit(ctx, op{kind: opDeleteLease, ids: ids})
}

// PutLicense stores a license durably.
func (s *Store) PutLicense(ctx context.Context, rec usher.LicenseRecord) error {
	return s.writer.Submit(ctx, op{kind: opPutLicense, lic: rec})
}

// DeleteLicense removes a license durably.
func (s *Store) DeleteLicense(ctx context.Context, id string) error {
	return s.writer.Submit(ctx, op{kind: opDeleteLicense, ids: []string{id}})
}

// Load reads the whole state.
func (s *Store) Load(ctx context.Context) (*usher.Snapshot, error) {
	snap := &usher.Snapshot{}
	rows, err := s.db.QueryContext(ctx, `SELECT id, text FROM licenses ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load licenses: %w", err)
	}
	for rows.Next() {
		var rec usher.LicenseRecord
		var text string
		if err := rows.Scan(&rec.ID, &text); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load licenses: %w", err)
		}
		rec.Text = []byte(text)
		snap.Licenses = append(snap.Licenses, rec)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("load licenses: %w", err)
	}
	if snap.Leases, err = s.loadLeases(ctx); err != nil {
		return nil, fmt.Errorf("load leases: %w", err)
	}
	if snap.Bans, err = s.loadBans(ctx); err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	if err := s.loadAccess(ctx, snap); err != nil {
		return nil, err
	}
	if snap.Released, err = s.loadReleased(ctx); err != nil {
		return nil, fmt.Errorf("load released licenses: %w", err)
	}
	if err := s.loadMeter(ctx, snap); err != nil {
		return nil, err
	}
	return snap, nil
}

func (s *Store) loadLeases(ctx context.Context) ([]usher.Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, feature, client_id, user, host, pid, issued_at, owner, address, terms FROM leases`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usher.Lease
	for rows.Next() {
		var l usher.Lease
		var issued, owner, terms string
		if err := rows.Scan(&l.ID, &l.Feature, &l.Client.ID, &l.Client.User, &l.Client.Host, &l.Client.PID, &issued, &owner, &l.Addr, &terms); err != nil {
			return nil, err
		}
		if terms != "" {
			if err := json.Unmarshal([]byte(terms), &l.LeaseTerms); err != nil {
				return nil, fmt.Errorf("lease %s: terms: %w", l.ID, err)
			}
		}
		l.Owner = usher.ParseOwner(owner)
		if l.IssuedAt, err = time.Parse(time.RFC3339Nano, issued); err != nil {
			return nil, fmt.Errorf("lease %s: issued_at: %w", l.ID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// encodeTerms writes a lease's terms as JSON, or "" for a plain lease.
func encodeTerms(t usher.LeaseTerms) (string, error) {
	if t == (usher.LeaseTerms{}) {
		return "", nil
	}
	b, err := json.Marshal(t)
	return string(b), err
}
