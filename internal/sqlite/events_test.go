package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
)

var t0 = eventlogtest.T0

// TestEventsConformance runs the event log suite on the event database.
func TestEventsConformance(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T) func(eventlog.Options) (*eventlog.Log, error) {
		dir := t.TempDir()
		return func(o eventlog.Options) (*eventlog.Log, error) {
			b, err := sqlite.OpenEvents(dir)
			if err != nil {
				return nil, err
			}
			o.Backend = b
			return eventlog.Open(o)
		}
	}, false)
}

// TestOpenConvertsFirstLayout opens an events.db written by the first
// layout, which kept each event as JSON.
func TestOpenConvertsFirstLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, type TEXT NOT NULL,
	feature TEXT NOT NULL DEFAULT '', data TEXT NOT NULL);
CREATE INDEX events_time ON events (time);
CREATE TABLE usage (feature TEXT NOT NULL, minute INTEGER NOT NULL, peak INTEGER NOT NULL DEFAULT 0,
	checkouts INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (feature, minute)) WITHOUT ROWID;
INSERT INTO events (time, type, feature, data) VALUES
	(?1, 'lease_granted', 'cad', '{"type":"lease_granted","time":"2026-03-01T10:00:00Z","feature":"cad","lease_id":"ls_1","client":{"id":"c1","user":"alice","host":"ws-17","pid":42}}'),
	(?1, 'license_added', '', '{"type":"license_added","time":"2026-03-01T10:00:00Z","license_id":"lic_9"}'),
	(?1, 'server_stopped', '', '{"type":"server_stopped","time":"2026-03-01T10:00:00Z"}');
DELETE FROM events WHERE type = 'server_stopped';`, t0.UnixNano())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	l := eventlogtest.OpenSQLite(t, dir, ushertest.NewClock(t0.Add(time.Hour)))
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	eventlogtest.MustSync(t, l)
	got := eventlogtest.MustQuery(t, l, eventlog.Filter{})
	want := []eventlog.Record{
		{ID: 1, Event: usher.Event{Type: "lease_granted", Time: t0, Feature: "cad", LeaseID: "ls_1",
			Client: usher.Client{ID: "c1", User: "alice", Host: "ws-17", PID: 42}}},
		{ID: 2, Event: usher.Event{Type: "license_added", Time: t0, LicenseID: "lic_9"}},
		{ID: 4, Event: usher.Event{Type: "server_started", Time: t0.Add(time.Hour)}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestOpenAddsWaited opens an events.db of layout 1, before events said
// how long a checkout waited in line: its events read as before, and new
// ones keep their wait.
func TestOpenAddsWaited(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`
CREATE TABLE events (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, behind INTEGER NOT NULL, type TEXT NOT NULL,
	feature TEXT, lease_id TEXT, client_id TEXT, user TEXT, host TEXT, pid INTEGER, license_id TEXT, reason TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE usage (feature TEXT NOT NULL, minute INTEGER NOT NULL, peak INTEGER NOT NULL DEFAULT 0,
	checkouts INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (feature, minute)) WITHOUT ROWID;
INSERT INTO events (id, time, behind, type, feature, lease_id) VALUES (1, ?1, 0, 'lease_granted', 'cad', 'ls_1');
PRAGMA user_version = 1;`, t0.UnixNano())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	l := eventlogtest.OpenSQLite(t, dir, ushertest.NewClock(t0.Add(time.Hour)))
	l.Record(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: "ls_2", WaitedMS: 1500})
	eventlogtest.MustSync(t, l)
	got := eventlogtest.MustQuery(t, l, eventlog.Filter{})
	want := []eventlog.Record{
		{ID: 1, Event: usher.Event{Type: "lease_granted", Time: t0, Feature: "cad", LeaseID: "ls_1"}},
		{ID: 2, Event: usher.Event{Type: "lease_granted", Time: t0.Add(time.Hour), Feature: "cad", LeaseID: "ls_2", WaitedMS: 1500}},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestOpenRefusesNewerLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`PRAGMA user_version = 99`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := sqlite.OpenEvents(dir); err == nil {
		b.Close()
		t.Fatal("opened an events.db of a newer layout, want an error")
	}
}

// TestEventsKeptUnderMaxSize writes events past a small bound, with a
// pass after every batch as the Log makes every minute: the oldest are
// deleted, the newest stay, ids go on from the highest ever used, and the
// file stays near the bound as new events reuse the pages old ones freed.
func TestEventsKeptUnderMaxSize(t *testing.T) {
	const maxSize, batch, rounds = 256 << 10, 500, 40
	dir := t.TempDir()
	b, err := sqlite.OpenEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.SetMaxSize(maxSize)
	defer b.Close()
	ctx := context.Background()
	for range rounds {
		evs := make([]usher.Event, batch)
		for i := range evs {
			evs[i] = usher.Event{Type: usher.EventLeaseGranted, Time: t0, Feature: "cad", LeaseID: usher.NewLeaseID(),
				Client: usher.Client{ID: fmt.Sprintf("ws%d-cad-%d", i%50, i), User: "alice", Host: "ws12.example.com", PID: 4242}}
		}
		if _, _, err := b.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := b.Prune(ctx, t0.Add(-time.Hour), t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := b.Query(ctx, eventlog.Filter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(recs); n == 0 || n >= rounds*batch || recs[n-1].ID != rounds*batch || recs[0].ID != rounds*batch-int64(n)+1 {
		t.Fatalf("kept %d of %d events; want the newest, not all", n, rounds*batch)
	}
	size := fileSize(t, dir)
	t.Logf("%d events kept in %d bytes", len(recs), size)
	if size > 2*maxSize {
		t.Errorf("events.db takes %d bytes with a bound of %d (%d events kept)", size, maxSize, len(recs))
	}
	if _, _, err := b.Append(ctx, []usher.Event{{Type: usher.EventLeaseReleased, Time: t0}}); err != nil {
		t.Fatal(err)
	}
	last, err := b.Query(ctx, eventlog.Filter{Limit: 1})
	if err != nil || len(last) != 1 || last[0].ID != rounds*batch+1 {
		t.Errorf("the next event: got %+v, %v; want id %d", last, err, rounds*batch+1)
	}
}

// fileSize is the size of events.db, checkpointed so that the -wal file's
// pages count.
func fileSize(t *testing.T, dir string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, sqlite.EventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
