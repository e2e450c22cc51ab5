package eventlog_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// TestOpenConvertsFirstLayout opens an events.db written by the first
// layout, which kept each event as JSON.
func TestOpenConvertsFirstLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, eventlog.FileName))
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

	l := MustOpen(t, dir, &clock{t: t0.Add(time.Hour)}, nil)
	l.Record(usher.Event{Type: eventlog.EventServerStarted})
	mustSync(t, l)
	got := mustQuery(t, l, eventlog.Filter{})
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

// TestIDsNotReusedAfterRetention empties the log by retention and checks
// that numbering goes on, also after a restart.
func TestIDsNotReusedAfterRetention(t *testing.T) {
	dir, clk := t.TempDir(), &clock{t: t0}
	l, err := eventlog.Open(eventlog.Options{Dir: dir, Now: clk.Now, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.Record(usher.Event{Type: eventlog.EventConfigChanged})
	}
	mustSync(t, l)
	clk.Set(t0.Add(2 * time.Hour))
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mustQuery(t, l, eventlog.Filter{}); len(got) != 0 {
		t.Fatalf("after retention: got %+v, want none", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := MustOpen(t, dir, clk, nil)
	l2.Record(usher.Event{Type: eventlog.EventServerStarted})
	mustSync(t, l2)
	if got := mustQuery(t, l2, eventlog.Filter{}); len(got) != 1 || got[0].ID != 4 {
		t.Fatalf("after restart: got %+v, want one event with id 4", got)
	}
}

// TestSinceWithTimesOutOfOrder stores events whose times do not follow
// their ids, as when two checkouts take their time and then queue their
// events in the other order, and checks that since and retention see
// every one.
func TestSinceWithTimesOutOfOrder(t *testing.T) {
	clk := &clock{t: t0}
	l := MustOpen(t, t.TempDir(), clk, nil)
	l.SetRetention(time.Hour, 0)
	minutes := []int{0, 10, 5, 20, 15, 30, 25, 40, 35}
	for _, m := range minutes {
		l.Record(usher.Event{Type: eventlog.EventConfigChanged, Time: t0.Add(time.Duration(m) * time.Minute)})
	}
	mustSync(t, l)
	for _, since := range []int{0, 5, 12, 15, 16, 30, 35, 41} {
		want := 0
		for _, m := range minutes {
			if m >= since {
				want++
			}
		}
		got := mustQuery(t, l, eventlog.Filter{Since: t0.Add(time.Duration(since) * time.Minute)})
		if len(got) != want {
			t.Errorf("since minute %d: got %d events, want %d", since, len(got), want)
		}
		for _, r := range got {
			if r.Time.Before(t0.Add(time.Duration(since) * time.Minute)) {
				t.Errorf("since minute %d: got an event at %v", since, r.Time)
			}
		}
	}
	clk.Set(t0.Add(time.Hour + 21*time.Minute)) // keeps minute 21 on
	if err := l.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := mustQuery(t, l, eventlog.Filter{})
	for _, r := range got {
		if r.Time.Before(t0.Add(21 * time.Minute)) {
			t.Errorf("after retention: an event at %v is left", r.Time)
		}
	}
	if len(got) != 4 { // 30, 25, 40, 35
		t.Errorf("after retention: got %d events, want 4", len(got))
	}
}

func TestOpenRefusesNewerLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, eventlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`PRAGMA user_version = 99`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if l, err := eventlog.Open(eventlog.Options{Dir: dir}); err == nil {
		l.Close()
		t.Fatal("opened an events.db of a newer layout, want an error")
	}
}

// TestManyWritersOneSequence records from several goroutines at once and
// checks that every event is stored and streamed once, with ids that go
// up by one, whatever the size of the writer's batches.
func TestManyWritersOneSequence(t *testing.T) {
	l := MustOpen(t, t.TempDir(), &clock{t: t0}, nil)
	sub := l.Subscribe(eventlog.Filter{}, 1<<14)
	defer sub.Close()
	const writers, each = 4, 777
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", LeaseID: fmt.Sprintf("ls_%d_%d", w, i),
					Client: usher.Client{ID: "c", PID: w + 1}})
			}
		}()
	}
	wg.Wait()
	mustSync(t, l)
	got := mustQuery(t, l, eventlog.Filter{Limit: eventlog.MaxLimit})
	if len(got) != writers*each {
		t.Fatalf("stored %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for i, r := range got {
		if r.ID != int64(i+1) || seen[r.LeaseID] || r.Client.PID == 0 {
			t.Fatalf("event %d: %+v (ids must go up by one, each lease once)", i, r)
		}
		seen[r.LeaseID] = true
		select {
		case s := <-sub.Events():
			if s != r {
				t.Fatalf("streamed %+v, stored %+v", s, r)
			}
		default:
			t.Fatalf("event %d stored but not streamed", r.ID)
		}
	}
}
