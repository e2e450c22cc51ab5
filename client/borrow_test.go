package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// TestBorrowRunsOfflineAndSurvivesRestart borrows a seat, gets it back in
// a "restarted" application with no server reachable, returns it early,
// and sees a kicked borrow refused once the server is reachable again.
func TestBorrowRunsOfflineAndSurvivesRestart(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"viewer": 1})
	ctx := context.Background()
	if _, err := s.Admin().AddLicense(ctx, s.Sign(usher.Grant{Feature: "cad", Seats: 1, Borrow: 7 * 24 * time.Hour})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	online := client.Options{Servers: []string{s.Addr()}, BorrowDir: dir}
	offline := client.Options{Servers: []string{"127.0.0.1:1"}, BorrowDir: dir, RetryTimeout: time.Second}

	a := MustNew(t, online)
	if _, err := a.Checkout(ctx, "viewer", client.Borrow(time.Hour)); !errors.Is(err, usher.ErrBorrowNotAllowed) {
		t.Fatalf("borrow of a feature without borrow=: got %v, want ErrBorrowNotAllowed", err)
	}
	lent, err := a.Checkout(ctx, "cad", client.Borrow(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if until := lent.BorrowedUntil(); until.Before(time.Now().Add(71 * time.Hour)) {
		t.Fatalf("BorrowedUntil = %v, want about 72h from now", until)
	}
	_ = a.Close() // the application exits: the borrow stays
	if n := len(s.Ledger().Leases()); n != 1 {
		t.Fatalf("server holds %d leases after the borrower closed, want 1", n)
	}

	b := MustNew(t, offline)
	again, err := b.Checkout(ctx, "cad", client.Borrow(72*time.Hour))
	if err != nil || again.ID() != lent.ID() {
		t.Fatalf("offline restart: got %v, %v, want lease %s from the token file", again, err, lent.ID())
	}
	_ = b.Close()

	c := MustNew(t, online)
	back, err := c.Checkout(ctx, "cad", client.Borrow(72*time.Hour))
	if err != nil || back.ID() != lent.ID() {
		t.Fatalf("online restart: got %v, %v, want lease %s", back, err, lent.ID())
	}
	if err := back.Return(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Ledger().Leases()); n != 0 {
		t.Fatalf("server holds %d leases after Return, want 0", n)
	}

	d := MustNew(t, online)
	kicked, err := d.Checkout(ctx, "cad", client.Borrow(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ledger().Release(ctx, kicked.ID(), usher.Owner{}, true); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	e := MustNew(t, online)
	fresh, err := e.Checkout(ctx, "cad", client.Borrow(time.Hour))
	if err != nil || fresh.ID() == kicked.ID() {
		t.Fatalf("after a revoke: got %v, %v, want a new lease, not %s", fresh, err, kicked.ID())
	}
	_ = e.Close()

	// A token edited on disk no longer verifies: offline, nothing runs.
	path := filepath.Join(dir, "cad.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f := MustNew(t, offline)
	if _, err := f.Checkout(ctx, "cad", client.Borrow(time.Hour)); err == nil {
		t.Fatal("an edited token ran offline")
	}
}

func TestCountAndVersionOptions(t *testing.T) {
	s := MustStartServer(t, time.Second, nil)
	ctx := context.Background()
	if _, err := s.Admin().AddLicense(ctx, s.Sign(usher.Grant{Feature: "cad", Seats: 4, Version: "2026.2"})); err != nil {
		t.Fatal(err)
	}
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "job"})
	l, err := c.Checkout(ctx, "cad", client.Count(3), client.Version("2026"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := s.Ledger().Lease(l.ID())
	if err != nil || ls.Count != 3 || ls.Version != "2026.2" {
		t.Fatalf("got %+v, %v, want 3 seats of version 2026.2", ls, err)
	}
	d := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "other"})
	if _, err := d.Checkout(ctx, "cad", client.Count(2)); !errors.Is(err, usher.ErrNoSeats) {
		t.Fatalf("2 more seats of 4 with 3 taken: got %v, want ErrNoSeats", err)
	}
}
