// Package storetest holds the conformance suites that every store passes:
// Run for usher.Store (licenses and leases), RunAuth for auth.Store (users
// and API tokens) and RunSettings for the runtime settings. The embedded
// SQLite store and the etcd store run the same tests.
package storetest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// Factory creates an empty backing medium for one test and returns a
// function that opens a store on it. Each call of open reopens the same
// data; the suite closes a store (if it is an io.Closer) before reopening.
type Factory func(t *testing.T) (open func() usher.Store)

// Run runs the conformance suite against the stores that newStore makes.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() usher.Store)
	}{
		{"EmptyLoad", testEmptyLoad},
		{"LeaseRoundTrip", testLeaseRoundTrip},
		{"LeaseTermsRoundTrip", testLeaseTermsRoundTrip},
		{"DeleteLeases", testDeleteLeases},
		{"LicenseRoundTrip", testLicenseRoundTrip},
		{"BanRoundTrip", testBanRoundTrip},
		{"AccessRoundTrip", testAccessRoundTrip},
		{"ReleasedRoundTrip", testReleasedRoundTrip},
		{"ConcurrentWritesAllDurable", testConcurrentWrites},
		{"LedgerNeverOverAllocates", testLedgerNeverOverAllocates},
		{"ConsumptionRoundTrip", testConsumptionRoundTrip},
		{"LicenseStateRoundTrip", testLicenseStateRoundTrip},
		{"LedgerKeepsConsumptions", testLedgerKeepsConsumptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := newStore(t)
			tt.fn(t, open)
		})
	}
}

func closeStore(t *testing.T, s usher.Store) {
	t.Helper()
	if c, ok := s.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatalf("close store: %v", err)
		}
	}
}

// reopen closes s and opens the same data again.
func reopen(t *testing.T, s usher.Store, open func() usher.Store) usher.Store {
	t.Helper()
	closeStore(t, s)
	s = open()
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

func mustLoad(t *testing.T, s usher.Store) *usher.Snapshot {
	t.Helper()
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return snap
}

func testLease(i int) usher.Lease {
	return usher.Lease{
		ID:       fmt.Sprintf("ls_%06d", i),
		Feature:  "cad",
		Client:   usher.Client{ID: fmt.Sprintf("client-%d", i), User: "alice", Host: "ws12", PID: 4000 + i},
		IssuedAt: time.Date(2026, 11, 23, 10, 0, i%60, 123456789, time.UTC),
		Owner:    usher.Owner{Kind: "address", ID: "2001:db8::7"}, // a colon in the ID too
		Addr:     "2001:db8::7",
	}
}

func testEmptyLoad(t *testing.T, open func() usher.Store) {
	s := open()
	t.Cleanup(func() { closeStore(t, s) })
	snap := mustLoad(t, s)
	if len(snap.Licenses) != 0 || len(snap.Leases) != 0 {
		t.Fatalf("new store loaded %d licenses and %d leases, want none", len(snap.Licenses), len(snap.Leases))
	}
}

func testLeaseRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	want := testLease(1)
	if err := s.PutLease(ctx, want); err != nil {
		t.Fatalf("PutLease: %v", err)
	}
	s = reopen(t, s, open)
	snap := mustLoad(t, s)
	if len(snap.Leases) != 1 {
		t.Fatalf("got %d leases after reopen, want 1", len(snap.Leases))
	}
	got := snap.Leases[0]
	if got.ID != want.ID || got.Feature != want.Feature || got.Client != want.Client || !got.IssuedAt.Equal(want.IssuedAt) ||
		got.Owner != want.Owner || got.Addr != want.Addr {
		t.Fatalf("got lease %+v, want %+v", got, want)
	}
	// Putting the same ID again replaces, never duplicates.
	if err := s.PutLease(ctx, want); err != nil {
		t.Fatalf("PutLease again: %v", err)
	}
	if n := len(mustLoad(t, s).Leases); n != 1 {
		t.Fatalf("got %d leases after putting one twice, want 1", n)
	}
}

// testLeaseTermsRoundTrip checks that the terms of the licensing models
// come back as stored, and that putting a lease again replaces them (a
// release that lingers stores its linger end that way).
func testLeaseTermsRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	want := testLease(2)
	want.LeaseTerms = usher.LeaseTerms{Count: 3, Seat: "host:ws12", Version: "2026.2", BorrowedUntil: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	if err := s.PutLease(ctx, want); err != nil {
		t.Fatalf("PutLease: %v", err)
	}
	want.LingerUntil = time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	if err := s.PutLease(ctx, want); err != nil {
		t.Fatalf("PutLease again: %v", err)
	}
	s = reopen(t, s, open)
	snap := mustLoad(t, s)
	if len(snap.Leases) != 1 {
		t.Fatalf("got %d leases after reopen, want 1", len(snap.Leases))
	}
	got := snap.Leases[0].LeaseTerms
	if got.Count != 3 || got.Seat != "host:ws12" || got.Version != "2026.2" || !got.BorrowedUntil.Equal(want.BorrowedUntil) || !got.LingerUntil.Equal(want.LingerUntil) {
		t.Fatalf("got terms %+v, want %+v", got, want.LeaseTerms)
	}
}

func testDeleteLeases(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	t.Cleanup(func() { closeStore(t, s) })
	for i := range 5 {
		if err := s.PutLease(ctx, testLease(i)); err != nil {
			t.Fatalf("PutLease: %v", err)
		}
	}
	if err := s.DeleteLeases(ctx, []string{"ls_000001", "ls_000003", "ls_missing"}); err != nil {
		t.Fatalf("DeleteLeases: %v", err)
	}
	var ids []string
	for _, l := range mustLoad(t, s).Leases {
		ids = append(ids, l.ID)
	}
	sort.Strings(ids)
	if fmt.Sprint(ids) != "[ls_000000 ls_000002 ls_000004]" {
		t.Fatalf("got leases %v after delete, want [ls_000000 ls_000002 ls_000004]", ids)
	}
}

func testLicenseRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	text := []byte("-----BEGIN USHER LICENSE-----\nexample\n-----END USHER LICENSE-----\n")
	for _, id := range []string{"lic_a", "lic_b"} {
		if err := s.PutLicense(ctx, usher.LicenseRecord{ID: id, Text: text}); err != nil {
			t.Fatalf("PutLicense: %v", err)
		}
	}
	if err := s.DeleteLicense(ctx, "lic_a"); err != nil {
		t.Fatalf("DeleteLicense: %v", err)
	}
	if err := s.DeleteLicense(ctx, "lic_missing"); err != nil {
		t.Fatalf("DeleteLicense of a missing id: %v", err)
	}
	s = reopen(t, s, open)
	snap := mustLoad(t, s)
	if len(snap.Licenses) != 1 || snap.Licenses[0].ID != "lic_b" || string(snap.Licenses[0].Text) != string(text) {
		t.Fatalf("got licenses %+v, want only lic_b with its text", snap.Licenses)
	}
}

// testConcurrentWrites checks that concurrent calls, which a store may
// commit as one batch, are each durable when they return.
func testConcurrentWrites(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PutLease(ctx, testLease(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutLease: %v", err)
		}
	}
	s = reopen(t, s, open)
	if got := len(mustLoad(t, s).Leases); got != n {
		t.Fatalf("got %d leases after reopen, want %d", got, n)
	}
}

// testLedgerNeverOverAllocates races checkouts through a Ledger on this
// store and checks the durable state after reopening.
func testLedgerNeverOverAllocates(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := usher.NewKeyring(pub)
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Conformance", IssuedAt: time.Now(),
		Grants: []usher.Grant{{Feature: "cad", Seats: 8}}}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		t.Fatal(err)
	}
	s := open()
	led, err := usher.OpenLedger(ctx, usher.LedgerConfig{Store: s, Keyring: keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.AddLicense(ctx, text); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := led.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("c", i)}})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				granted++
			} else if usher.ErrorCode(err) != usher.ENoSeats {
				t.Errorf("checkout: %v", err)
			}
		}()
	}
	wg.Wait()
	if granted != 8 {
		t.Fatalf("granted %d seats, want 8", granted)
	}
	s = reopen(t, s, open)
	led, err = usher.OpenLedger(ctx, usher.LedgerConfig{Store: s, Keyring: keys})
	if err != nil {
		t.Fatal(err)
	}
	if got := led.Features()[0]; got.InUse != 8 || got.Seats != 8 {
		t.Fatalf("after reopen: in use %d of %d seats, want 8 of 8", got.InUse, got.Seats)
	}
	if _, _, err := led.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "late"}}); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("checkout after reopen: got %v, want %s", err, usher.ENoSeats)
	}
}
