package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/sqlite"
)

// A database made before leases had owners and addresses opens, loads its
// leases without them, and stores new ones with them.
func TestOpensLeasesTableOfEarlierRelease(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE leases (
	id TEXT PRIMARY KEY, feature TEXT NOT NULL, client_id TEXT NOT NULL,
	user TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0,
	issued_at TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO leases (id, feature, client_id, issued_at) VALUES ('ls_old', 'cad', 'c1', '2026-11-23T10:00:00Z');`)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatalf("open a database of an earlier release: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	owner := usher.Owner{Kind: "token", ID: "tk_1"}
	if err := s.PutLease(ctx, usher.Lease{ID: "ls_new", Feature: "cad", Client: usher.Client{ID: "c2"}, Owner: owner, Addr: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]usher.Lease{}
	for _, l := range snap.Leases {
		got[l.ID] = l
	}
	if old, ok := got["ls_old"]; !ok || old.Owner != (usher.Owner{}) || old.Addr != "" || old.Client.ID != "c1" {
		t.Fatalf("got old lease %+v (found %v), want it with no owner and no address", old, ok)
	}
	if n := got["ls_new"]; n.Owner != owner || n.Addr != "192.0.2.7" {
		t.Fatalf("got new lease owner %v address %q, want %v and 192.0.2.7", n.Owner, n.Addr, owner)
	}
}
