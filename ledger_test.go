package usher_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// memStore is an in-memory usher.Store whose writes can be made to fail.
type memStore struct {
	mu       sync.Mutex
	licenses map[string][]byte
	leases   map[string]usher.Lease
	bans     map[string]usher.Ban             // see ban_test.go
	access   memAccess                        // see secret_test.go
	released map[string]usher.ReleasedLicense // see ledger_release_test.go
	meter                                     // see consumption_test.go
	fail     error
	// gate, if set, holds DeleteLeases until it is closed; entered is
	// told when a call waits at it.
	gate, entered chan struct{}
}

func newMemStore() *memStore {
	return &memStore{licenses: map[string][]byte{}, leases: map[string]usher.Lease{}}
}

func (m *memStore) Load(context.Context) (*usher.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := &usher.Snapshot{}
	for id, text := range m.licenses {
		snap.Licenses = append(snap.Licenses, usher.LicenseRecord{ID: id, Text: text})
	}
	for _, l := range m.leases {
		snap.Leases = append(snap.Leases, l)
	}
	for _, b := range m.bans {
		snap.Bans = append(snap.Bans, b)
	}
	m.access.load(snap)
	m.loadMeter(snap)
	for _, r := range m.released {
		snap.Released = append(snap.Released, r)
	}
	return snap, nil
}

func (m *memStore) PutLicense(_ context.Context, rec usher.LicenseRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.licenses[rec.ID] = rec.Text
	return nil
}

func (m *memStore) DeleteLicense(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	delete(m.licenses, id)
	return nil
}

func (m *memStore) PutLease(_ context.Context, l usher.Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.leases[l.ID] = l
	return nil
}

func (m *memStore) DeleteLeases(_ context.Context, ids []string) error {
	m.mu.Lock()
	if gate := m.gate; gate != nil {
		m.mu.Unlock()
		m.entered <- struct{}{}
		<-gate
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, id := range ids {
		delete(m.leases, id)
	}
	return nil
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *memStore) leaseCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.leases)
}

// fixture is a ledger on a memStore with a fake clock and one vendor key.
type fixture struct {
	t      testing.TB
	clock  *ushertest.Clock
	store  *memStore
	priv   ed25519.PrivateKey
	keys   *usher.Keyring
	ledger *usher.Ledger
}

const keepalive = 30 * time.Second

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: ushertest.NewClock(t0), store: newMemStore(), priv: priv, keys: usher.NewKeyring(pub)}
	f.reopen()
	return f
}

// reopen starts a new ledger on the same store, as a restart does.
func (f *fixture) reopen() {
	f.t.Helper()
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.ledger = l
}

func (f *fixture) sign(grants ...usher.Grant) []byte {
	f.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME Corp", IssuedAt: t0, Grants: grants}
	text, err := usher.Sign(lic, f.priv)
	if err != nil {
		f.t.Fatal(err)
	}
	return text
}

func (f *fixture) add(grants ...usher.Grant) *usher.License {
	f.t.Helper()
	lic, err := f.ledger.AddLicense(context.Background(), f.sign(grants...))
	if err != nil {
		f.t.Fatalf("AddLicense: %v", err)
	}
	return lic
}

func (f *fixture) checkout(feature, client string) (usher.Lease, error) {
	l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}})
	return l, err
}

func (f *fixture) mustCheckout(feature, client string) usher.Lease {
	f.t.Helper()
	l, err := f.checkout(feature, client)
	if err != nil {
		f.t.Fatalf("checkout %s for %s: %v", feature, client, err)
	}
	return l
}

func (f *fixture) feature(name string) usher.FeatureStatus {
	f.t.Helper()
	for _, fs := range f.ledger.Features() {
		if fs.Name == name {
			return fs
		}
	}
	f.t.Fatalf("feature %s not listed", name)
	return usher.FeatureStatus{}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := usher.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func TestCheckoutUntilFull(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	f.mustCheckout("cad", "a")
	f.mustCheckout("cad", "b")
	_, err := f.checkout("cad", "c")
	wantCode(t, err, usher.ENoSeats)
	if !errors.Is(err, usher.ErrNoSeats) {
		t.Fatalf("errors.Is(%v, ErrNoSeats) is false", err)
	}
	if got := f.feature("cad"); got.InUse != 2 || got.Seats != 2 || got.Free() != 0 {
		t.Fatalf("got %+v, want 2 of 2 in use", got)
	}
}

func TestCheckoutIsIdempotentPerClient(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	first, created, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a"}})
	if err != nil || !created {
		t.Fatalf("first checkout: created=%v err=%v", created, err)
	}
	f.clock.Advance(time.Second)
	again, created, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a"}})
	if err != nil || created {
		t.Fatalf("repeated checkout: created=%v err=%v, want the same lease", created, err)
	}
	if again.ID != first.ID {
		t.Fatalf("repeated checkout got lease %s, want %s", again.ID, first.ID)
	}
	if !again.ExpiresAt.After(first.ExpiresAt) {
		t.Fatalf("repeated checkout did not renew the lease")
	}
	if got := f.feature("cad").InUse; got != 1 {
		t.Fatalf("in use %d after a repeated checkout, want 1", got)
	}
}

func TestLicensesStack(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.add(usher.Grant{Feature: "cad", Seats: 3})
	for i := range 8 {
		f.mustCheckout("cad", fmt.Sprint(i))
	}
	_, err := f.checkout("cad", "ninth")
	wantCode(t, err, usher.ENoSeats)
	if got := f.feature("cad").Seats; got != 8 {
		t.Fatalf("stacked seats %d, want 8", got)
	}
}

func TestUnlimitedNeverRefuses(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "viewer", Unlimited: true})
	for i := range 500 {
		f.mustCheckout("viewer", fmt.Sprint(i))
	}
	if got := f.feature("viewer"); !got.Unlimited || got.InUse != 500 || got.Free() != -1 {
		t.Fatalf("got %+v, want unlimited with 500 in use", got)
	}
}

func TestZeroSeatsRefusesEveryCheckout(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 0})
	_, err := f.checkout("cad", "a")
	wantCode(t, err, usher.ENoSeats)
}

func TestUnknownFeature(t *testing.T) {
	f := newFixture(t)
	_, err := f.checkout("nope", "a")
	wantCode(t, err, usher.EFeatureNotFound)
}

func TestInvalidRequests(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	for name, req := range map[string]usher.CheckoutRequest{
		"no client id": {Feature: "cad"},
		"no feature":   {Client: usher.Client{ID: "a"}},
		"bad feature":  {Feature: "CAD!", Client: usher.Client{ID: "a"}},
		"negative pid": {Feature: "cad", Client: usher.Client{ID: "a", PID: -1}},
		"huge wait":    {Feature: "cad", Client: usher.Client{ID: "a"}, Wait: 2 * usher.MaxWait},
	} {
		_, _, err := f.ledger.Checkout(context.Background(), req)
		if usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%s: got %v, want %s", name, err, usher.EInvalid)
		}
	}
	if got := f.feature("cad").InUse; got != 0 {
		t.Fatalf("invalid requests took %d seats", got)
	}
}

func TestFeatureWindow(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "future", Seats: 1, StartsAt: t0.Add(time.Hour)})
	f.add(usher.Grant{Feature: "past", Seats: 1, ExpiresAt: t0.Add(-time.Hour)})
	_, err := f.checkout("future", "a")
	wantCode(t, err, usher.EFeatureNotStarted)
	_, err = f.checkout("past", "a")
	wantCode(t, err, usher.EFeatureExpired)
	f.clock.Advance(2 * time.Hour)
	f.mustCheckout("future", "a")
	if got := f.feature("past").State; got != usher.FeatureExpired {
		t.Fatalf("state of past feature %q, want %q", got, usher.FeatureExpired)
	}
}

func TestHeartbeatKeepsLeaseAndSilenceReclaims(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	kept := f.mustCheckout("cad", "kept")
	silent := f.mustCheckout("cad", "silent")
	for range 4 {
		f.clock.Advance(keepalive / 2)
		if _, err := f.ledger.Heartbeat(ctx, kept.ID, usher.Owner{}); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if _, err := f.ledger.Reclaim(ctx); err != nil {
			t.Fatalf("reclaim: %v", err)
		}
	}
	if _, err := f.ledger.Lease(kept.ID); err != nil {
		t.Fatalf("heartbeating lease was reclaimed: %v", err)
	}
	_, err := f.ledger.Heartbeat(ctx, silent.ID, usher.Owner{})
	wantCode(t, err, usher.ELeaseNotFound)
	if got := f.store.leaseCount(); got != 1 {
		t.Fatalf("store holds %d leases, want 1", got)
	}
	f.mustCheckout("cad", "newcomer") // the reclaimed seat is free again
}

func TestReclaimExactlyAtTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	l := f.mustCheckout("cad", "a")
	f.clock.Advance(keepalive)
	if ended, _ := f.ledger.Reclaim(ctx); len(ended) != 0 {
		t.Fatalf("lease reclaimed at exactly the timeout; it should live until after it")
	}
	f.clock.Advance(time.Millisecond)
	ended, err := f.ledger.Reclaim(ctx)
	if err != nil || len(ended) != 1 || ended[0].ID != l.ID {
		t.Fatalf("Reclaim = %v, %v; want lease %s", ended, err, l.ID)
	}
}

func TestReleaseAndKick(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	l := f.mustCheckout("cad", "a")
	if err := f.ledger.Release(ctx, l.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.ledger.Release(ctx, l.ID, usher.Owner{}, false), usher.ELeaseNotFound)
	l = f.mustCheckout("cad", "b")
	if err := f.ledger.Release(ctx, l.ID, usher.Owner{}, true); err != nil {
		t.Fatal(err)
	}
	f.mustCheckout("cad", "c")
}

func TestRemovingLicenseNeverOverAllocates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	big := f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.add(usher.Grant{Feature: "cad", Seats: 3})
	var leases []usher.Lease
	for i := range 6 {
		leases = append(leases, f.mustCheckout("cad", fmt.Sprint(i)))
	}
	if _, err := f.ledger.RemoveLicense(ctx, big.ID); err != nil {
		t.Fatal(err)
	}
	// 6 leases live on over 3 seats; nobody new gets in until below 3.
	if got := f.feature("cad"); got.InUse != 6 || got.Seats != 3 {
		t.Fatalf("got %+v, want 6 in use of 3 seats", got)
	}
	for _, l := range leases[:3] {
		if _, err := f.ledger.Heartbeat(ctx, l.ID, usher.Owner{}); err != nil {
			t.Fatalf("existing lease lost its seat: %v", err)
		}
		if err := f.ledger.Release(ctx, l.ID, usher.Owner{}, false); err != nil {
			t.Fatal(err)
		}
		_, err := f.checkout("cad", "newcomer")
		wantCode(t, err, usher.ENoSeats)
	}
	if err := f.ledger.Release(ctx, leases[3].ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	f.mustCheckout("cad", "newcomer")
	_, err := f.ledger.RemoveLicense(ctx, big.ID)
	wantCode(t, err, usher.ELicenseNotFound)
}

func TestFeatureExpiryEndsLeases(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "sim", Seats: 2, ExpiresAt: t0.Add(time.Hour)})
	l := f.mustCheckout("sim", "a")
	f.clock.Advance(time.Hour + time.Second)
	_, err := f.ledger.Heartbeat(ctx, l.ID, usher.Owner{})
	wantCode(t, err, usher.EFeatureExpired)
	ended, err := f.ledger.Reclaim(ctx)
	if err != nil || len(ended) != 1 {
		t.Fatalf("Reclaim = %v, %v; want the lease of the expired feature", ended, err)
	}
	_, err = f.checkout("sim", "b")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestDuplicateLicenseRefused(t *testing.T) {
	f := newFixture(t)
	text := f.sign(usher.Grant{Feature: "cad", Seats: 5})
	if _, err := f.ledger.AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	_, err := f.ledger.AddLicense(context.Background(), text)
	wantCode(t, err, usher.ELicenseExists)
	if got := f.feature("cad").Seats; got != 5 {
		t.Fatalf("seats %d after adding the same license twice, want 5", got)
	}
}

func TestStoreFailureChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	held := f.mustCheckout("cad", "a")
	f.store.setFail(errors.New("disk full"))
	if err := f.ledger.Release(ctx, held.ID, usher.Owner{}, false); err == nil {
		t.Fatal("release succeeded although the store failed")
	}
	if _, err := f.ledger.Heartbeat(ctx, held.ID, usher.Owner{}); err != nil {
		t.Fatalf("lease lost after a failed release: %v", err)
	}
	if err := f.ledger.Release(ctx, held.ID, usher.Owner{}, false); err == nil {
		t.Fatal("second release succeeded although the store failed")
	}
	f.store.setFail(nil)
	if err := f.ledger.Release(ctx, held.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	f.store.setFail(errors.New("disk full"))
	if _, err := f.checkout("cad", "b"); err == nil {
		t.Fatal("checkout succeeded although the store failed")
	}
	f.store.setFail(nil)
	f.mustCheckout("cad", "b") // the failed checkout gave its seat back
	if _, err := f.ledger.AddLicense(ctx, f.sign(usher.Grant{Feature: "x", Seats: 1})); err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsLeasesWithFreshWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	a := f.mustCheckout("cad", "a")
	f.mustCheckout("cad", "b")
	f.clock.Advance(keepalive - time.Second) // almost expired when the server stops
	f.reopen()
	if got := f.feature("cad"); got.InUse != 2 {
		t.Fatalf("after restart %d in use, want 2", got.InUse)
	}
	_, err := f.checkout("cad", "c")
	wantCode(t, err, usher.ENoSeats)
	f.clock.Advance(keepalive - time.Second)
	if ended, _ := f.ledger.Reclaim(ctx); len(ended) != 0 {
		t.Fatalf("restart did not give leases a fresh keep-alive window: %d reclaimed", len(ended))
	}
	if _, err := f.ledger.Heartbeat(ctx, a.ID, usher.Owner{}); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	f.clock.Advance(2 * time.Second) // b is silent
	if ended, _ := f.ledger.Reclaim(ctx); len(ended) != 1 {
		t.Fatalf("reclaimed %d after the window, want the silent one", len(ended))
	}
}

func TestTamperedStoredLicenseIsNotServed(t *testing.T) {
	f := newFixture(t)
	lic := f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.store.mu.Lock()
	f.store.licenses[lic.ID] = bytes.Replace(f.store.licenses[lic.ID], []byte("seats=5"), []byte("seats=50"), 1)
	f.store.mu.Unlock()
	f.reopen()
	if got := len(f.ledger.Licenses()); got != 0 {
		t.Fatalf("%d licenses loaded from a tampered store, want 0", got)
	}
	_, err := f.checkout("cad", "a")
	wantCode(t, err, usher.EFeatureNotFound)
}

func TestConcurrentCheckoutsGrantExactlySeats(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 8})
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, denied := 0, 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.checkout("cad", fmt.Sprint(i))
			mu.Lock()
			defer mu.Unlock()
			switch usher.ErrorCode(err) {
			case "":
				granted++
			case usher.ENoSeats:
				denied++
			default:
				t.Errorf("checkout: %v", err)
			}
		}()
	}
	wg.Wait()
	if granted != 8 || denied != 56 {
		t.Fatalf("granted %d, denied %d; want 8 and 56", granted, denied)
	}
}

func TestFeatureWindowIgnoresExpiredGrants(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "gap", Seats: 1, ExpiresAt: t0.Add(-time.Hour)})
	start := t0.Add(24 * time.Hour)
	f.add(usher.Grant{Feature: "gap", Seats: 1, StartsAt: start})
	_, err := f.checkout("gap", "a")
	wantCode(t, err, usher.EFeatureNotStarted)
	if want := start.Format(time.RFC3339); !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q does not name the start %s", err, want)
	}
	got := f.feature("gap")
	if got.State != usher.FeatureNotStarted || got.StartsAt == nil || !got.StartsAt.Equal(start) || got.ExpiresAt != nil {
		t.Fatalf("got %+v, want not_started from %s, never expiring", got, start)
	}
}

func TestRepeatedCheckoutOnExpiredFeatureIsRefused(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "sim", Seats: 1, ExpiresAt: t0.Add(time.Minute)})
	f.mustCheckout("sim", "a")
	f.clock.Advance(2 * time.Minute)
	_, err := f.checkout("sim", "a")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestExpiryHasOneSecondResolution(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "sim", Seats: 1, ExpiresAt: t0})
	f.clock.Advance(999 * time.Millisecond) // still within the last second
	f.mustCheckout("sim", "a")
	f.clock.Advance(time.Millisecond)
	_, err := f.checkout("sim", "b")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestTimesAreUTC(t *testing.T) {
	f := newFixture(t)
	f.clock = nil
	berlin := time.FixedZone("CET", 3600)
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{
		Store: f.store, Keyring: f.keys, Now: func() time.Time { return t0.In(berlin) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	lease := f.mustCheckout("cad", "a")
	for _, ts := range []time.Time{lease.IssuedAt, lease.LastHeartbeat, lease.ExpiresAt} {
		if ts.Location() != time.UTC {
			t.Fatalf("lease time %s is not in UTC", ts)
		}
	}
}

func TestRefusedStoredLicenseCanBeRemoved(t *testing.T) {
	f := newFixture(t)
	lic := f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.store.mu.Lock()
	f.store.licenses[lic.ID] = bytes.Replace(f.store.licenses[lic.ID], []byte("seats=5"), []byte("seats=50"), 1)
	f.store.mu.Unlock()
	f.reopen()
	if _, err := f.ledger.RemoveLicense(context.Background(), lic.ID); err != nil {
		t.Fatalf("removing a refused stored license: %v", err)
	}
	f.store.mu.Lock()
	n := len(f.store.licenses)
	f.store.mu.Unlock()
	if n != 0 {
		t.Fatalf("store still holds %d licenses", n)
	}
}

func TestShorterKeepaliveStillReclaimsOnTime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 3})
	old := f.mustCheckout("cad", "old") // expires keepalive (30s) from now
	if err := f.ledger.SetKeepaliveTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	short := f.mustCheckout("cad", "short") // expires in 5s, behind old in the expiry order
	f.clock.Advance(6 * time.Second)
	ended, err := f.ledger.Reclaim(ctx)
	if err != nil || len(ended) != 1 || ended[0].ID != short.ID {
		t.Fatalf("Reclaim = %v, %v; want only %s", ended, err, short.ID)
	}
	f.clock.Advance(25 * time.Second)
	if ended, _ := f.ledger.Reclaim(ctx); len(ended) != 1 || ended[0].ID != old.ID {
		t.Fatalf("Reclaim = %v; want %s once its own window ended", ended, old.ID)
	}
	// Later leases follow the new timeout in order again.
	a := f.mustCheckout("cad", "a")
	f.clock.Advance(3 * time.Second)
	b := f.mustCheckout("cad", "b")
	f.clock.Advance(3 * time.Second)
	if ended, _ := f.ledger.Reclaim(ctx); len(ended) != 1 || ended[0].ID != a.ID {
		t.Fatalf("Reclaim = %v; want %s", ended, a.ID)
	}
	if _, err := f.ledger.Lease(b.ID); err != nil {
		t.Fatalf("lease %s reclaimed early: %v", b.ID, err)
	}
}

func TestReclaimTakesOnlyTheSilent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	var leases []usher.Lease
	for i := range 200 {
		leases = append(leases, f.mustCheckout("cad", fmt.Sprint(i)))
		f.clock.Advance(10 * time.Millisecond)
	}
	f.clock.Advance(keepalive / 2)
	for i := len(leases) - 1; i >= 0; i -= 2 { // every other one beats, newest first
		if _, err := f.ledger.Heartbeat(ctx, leases[i].ID, usher.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(keepalive/2 + 3*time.Second)
	ended, err := f.ledger.Reclaim(ctx)
	if err != nil || len(ended) != 100 {
		t.Fatalf("reclaimed %d (%v), want the 100 silent ones", len(ended), err)
	}
	for _, l := range ended {
		var i int
		fmt.Sscan(l.Client.ID, &i)
		if i%2 == 1 {
			t.Fatalf("lease of client %d reclaimed although it beat", i)
		}
	}
}

// TestReleaseDuringReleaseSharesItsOutcome: a retried release that
// arrives while the first is being stored must not report the lease gone
// when the first fails and the lease is still held.
func TestReleaseDuringReleaseSharesItsOutcome(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	l := f.mustCheckout("cad", "a")
	f.store.mu.Lock()
	f.store.fail = errors.New("lost the store")
	f.store.gate, f.store.entered = make(chan struct{}), make(chan struct{}, 2)
	f.store.mu.Unlock()
	first := make(chan error, 1)
	go func() { first <- f.ledger.Release(ctx, l.ID, usher.Owner{}, false) }()
	<-f.store.entered // the first release is being stored
	second := make(chan error, 1)
	go func() { second <- f.ledger.Release(ctx, l.ID, usher.Owner{}, false) }()
	f.store.mu.Lock()
	close(f.store.gate) // both fail now
	f.store.gate = nil
	f.store.mu.Unlock()
	if err := <-first; err == nil {
		t.Fatal("first release succeeded although the store failed")
	}
	if err := <-second; err == nil || usher.ErrorCode(err) == usher.ELeaseNotFound {
		t.Fatalf("second release = %v, want the store's failure: the lease is still held", err)
	}
	if _, err := f.ledger.Heartbeat(ctx, l.ID, usher.Owner{}); err != nil {
		t.Fatalf("lease lost after failed releases: %v", err)
	}
	f.store.setFail(nil)
	if err := f.ledger.Release(ctx, l.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
}

// observed records the events of a ledger.
type observed struct {
	mu  sync.Mutex
	evs []usher.Event
}

func (o *observed) Observe(ev usher.Event) { o.mu.Lock(); o.evs = append(o.evs, ev); o.mu.Unlock() }

// newObservedFixture returns a fixture whose ledger tells obs its events.
func newObservedFixture(t *testing.T) (*fixture, *observed) {
	t.Helper()
	f := newFixture(t)
	obs := &observed{}
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive,
		Now: f.clock.Now, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	return f, obs
}

// TestGrantEventsCountSeatsInUse: a grant's event says how many seats of
// its feature were in use right after it, for exact usage peaks.
func TestGrantEventsCountSeatsInUse(t *testing.T) {
	ctx := context.Background()
	f, obs := newObservedFixture(t)
	l := f.ledger
	f.add(usher.Grant{Feature: "cad", Seats: 3})
	a := f.mustCheckout("cad", "a")
	f.mustCheckout("cad", "b")
	if err := l.Release(ctx, a.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	f.mustCheckout("cad", "c")
	var got []int
	for _, ev := range obs.evs {
		if ev.Type == usher.EventLeaseGranted {
			got = append(got, ev.InUse)
		}
	}
	if !slices.Equal(got, []int{1, 2, 2}) {
		t.Fatalf("seats in use after each grant: %v, want [1 2 2]", got)
	}
}
