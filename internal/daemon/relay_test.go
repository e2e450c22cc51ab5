package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// relayKit is a master and relays of it, each relay with its own clock
// and ticks so that a test steps its idle timer and upstream expiry.
type relayKit struct {
	t      *testing.T
	master *ushertest.Server
}

// relay is one relay server of a relayKit.
type relay struct {
	*ushertest.Server
	clock *ushertest.Clock
	ticks chan time.Time
	api   *apiclient.Client
}

func startMaster(t *testing.T, seats int) *relayKit {
	m := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": seats}})
	return &relayKit{t: t, master: m}
}

// startRelay starts a relay of the master: its local leases live an hour,
// so that only its blocks end them.
func (k *relayKit) startRelay(set func(*daemon.Config), opts daemon.Options) *relay {
	clock := ushertest.NewClock(time.Now())
	ticks := make(chan time.Time)
	opts.Now, opts.RelayTicks = clock.Now, ticks
	s := ushertest.StartServer(k.t, ushertest.ServerOptions{Daemon: opts, Configure: func(c *daemon.Config) {
		c.VendorKey = nil
		c.Upstream = []string{k.master.URL()}
		c.KeepaliveTimeout = daemon.Duration(time.Hour)
		c.KeepaliveScanInterval = daemon.Duration(10 * time.Millisecond)
		if set != nil {
			set(c)
		}
	}})
	return &relay{Server: s, clock: clock, ticks: ticks, api: s.Admin()}
}

// tick runs one round of the relay's work and waits for it to be taken.
func (r *relay) tick() { r.ticks <- r.clock.Now() }

func checkoutAt(c *apiclient.Client, id string) (string, error) {
	lr, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id, User: "u", Host: "h"}})
	return lr.ID, err
}

func mustCheckoutAt(t *testing.T, c *apiclient.Client, id string) string {
	t.Helper()
	lid, err := checkoutAt(c, id)
	if err != nil {
		t.Fatalf("checkout %s: %v", id, err)
	}
	return lid
}

// seats returns the seats of cad a server has and has in use.
func seats(t *testing.T, c *apiclient.Client) (total, inUse int) {
	t.Helper()
	fs, err := c.Features(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == "cad" {
			return f.Seats, f.InUse
		}
	}
	return 0, 0
}

func wantSeats(t *testing.T, what string, c *apiclient.Client, total, inUse int) {
	t.Helper()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if gt, gu := seats(t, c); gt != total || gu != inUse {
			return fmt.Errorf("%s: got %d seats, %d in use; want %d, %d", what, gt, gu, total, inUse)
		}
		return nil
	})
}

func TestRelayBlockGrowsAtOnceAndShrinksWhenIdle(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(func(c *daemon.Config) { c.RelayIdle = daemon.Duration(time.Minute) }, daemon.Options{})
	master := k.master.Admin()
	a := mustCheckoutAt(t, r.api, "a")
	mustCheckoutAt(t, r.api, "b")
	wantSeats(t, "relay after two checkouts", r.api, 2, 2)
	wantSeats(t, "master after two checkouts at the relay", master, 5, 2)

	if err := r.api.Release(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(30 * time.Second)
	r.tick()
	wantSeats(t, "relay, a seat free for less than relay_idle", r.api, 2, 1)
	wantSeats(t, "master, the relay keeps its idle seat", master, 5, 2)

	r.clock.Advance(31 * time.Second)
	r.tick()
	wantSeats(t, "relay, a seat free for relay_idle", r.api, 1, 1)
	wantSeats(t, "master, the idle seat given back", master, 5, 1)
}

func TestRelayHeadroomBoundsTheBlock(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(func(c *daemon.Config) { c.RelayHeadroom = 2 }, daemon.Options{})
	mustCheckoutAt(t, r.api, "a")
	wantSeats(t, "relay with headroom 2", r.api, 3, 1)
	wantSeats(t, "master", k.master.Admin(), 5, 3)
	mustCheckoutAt(t, r.api, "b")
	mustCheckoutAt(t, r.api, "c")
	wantSeats(t, "relay using its headroom", r.api, 3, 3)
}

func TestRelaysNeverOverAllocate(t *testing.T) {
	k := startMaster(t, 3)
	r1 := k.startRelay(nil, daemon.Options{})
	r2 := k.startRelay(nil, daemon.Options{})
	master := k.master.Admin()
	mustCheckoutAt(t, master, "direct")
	a := mustCheckoutAt(t, r1.api, "a")
	mustCheckoutAt(t, r2.api, "b")
	for _, c := range []*apiclient.Client{master, r1.api, r2.api} {
		if _, err := checkoutAt(c, "more"); usher.ErrorCode(err) != usher.ENoSeats {
			t.Fatalf("a fourth seat of three: got %v, want %s", err, usher.ENoSeats)
		}
	}
	// A seat released at a relay stays in its block until it was idle
	// for relay_idle, then the other relay may have it.
	if err := r1.api.Release(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := checkoutAt(r2.api, "c"); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("a seat idle in another relay's block: got %v, want %s", err, usher.ENoSeats)
	}
	mustCheckoutAt(t, r1.api, "d") // the relay's own idle seat serves at once
	wantSeats(t, "master", master, 3, 3)
}

func TestRelayServesHeldSeatsOnlyUntilTheUpstreamWouldExpireThem(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(nil, daemon.Options{})
	a := mustCheckoutAt(t, r.api, "a")
	b := mustCheckoutAt(t, r.api, "b")
	if err := r.api.Release(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	k.master.Close()

	if _, err := r.api.Heartbeat(context.Background(), a); err != nil {
		t.Fatalf("heartbeat while the upstream is away: %v", err)
	}
	mustCheckoutAt(t, r.api, "c") // the block's idle seat
	if _, err := checkoutAt(r.api, "d"); usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("a seat beyond the block while the upstream is away: got %v, want %s", err, usher.EUnavailable)
	}
	r.clock.Advance(usher.DefaultKeepaliveTimeout)
	r.tick()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, err := r.api.Heartbeat(context.Background(), a); err == nil {
			return fmt.Errorf("lease %s still renewed after its block would have expired upstream", a)
		}
		return nil
	})
	wantSeats(t, "relay after its block ended", r.api, 0, 0)
	if _, err := checkoutAt(r.api, "e"); usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("checkout after the block ended: got %v, want %s", err, usher.EUnavailable)
	}
}

type fakeFinder struct{ urls []string }

func (f fakeFinder) Find(context.Context) ([]string, error) { return f.urls, nil }

func TestRelayFindsItsUpstreamByDiscovery(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(func(c *daemon.Config) { c.Upstream = []string{"auto"} }, daemon.Options{UpstreamFinder: fakeFinder{[]string{k.master.URL()}}})
	mustCheckoutAt(t, r.api, "a")
	wantSeats(t, "master", k.master.Admin(), 5, 1)
}

func TestRelayConcurrentCheckoutsHoldExactlyTheirSeats(t *testing.T) {
	k := startMaster(t, 50)
	r := k.startRelay(nil, daemon.Options{})
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			_, err := checkoutAt(r.api, fmt.Sprint("app-", i))
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	wantSeats(t, "relay", r.api, 20, 20)
	wantSeats(t, "master", k.master.Admin(), 50, 20)
	leases, err := k.master.Admin().Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 local leases held through %d block leases upstream", len(leases))
}

func TestRelayGrowsItsBlockForClientsWaitingInLine(t *testing.T) {
	k := startMaster(t, 1)
	r := k.startRelay(nil, daemon.Options{})
	master := k.master.Admin()
	direct := mustCheckoutAt(t, master, "direct")
	got := make(chan error, 1)
	go func() {
		_, _, err := r.api.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "waiter"}, Wait: "20s"})
		got <- err
	}()
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if q, err := r.api.Queue(context.Background()); err != nil || len(q) != 1 {
			return fmt.Errorf("relay queue: got %d waiters, %v; want 1", len(q), err)
		}
		return nil
	})
	if err := master.Release(context.Background(), direct); err != nil {
		t.Fatal(err)
	}
	r.tick()
	if err := <-got; err != nil {
		t.Fatalf("waiting checkout at the relay: %v", err)
	}
	wantSeats(t, "master", master, 1, 1)
}

func TestRelayRefusesWhatOnlyTheUpstreamServes(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(nil, daemon.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		req  wire.CheckoutRequest
		code string
	}{
		{wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b"}, Borrow: "24h"}, usher.EBorrowNotAllowed},
		{wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "v"}, Version: "2.0"}, usher.EInvalid},
	} {
		if _, _, err := r.api.Checkout(ctx, tc.req); usher.ErrorCode(err) != tc.code {
			t.Errorf("checkout %+v at a relay: got %v, want %s", tc.req, err, tc.code)
		}
	}
	wantSeats(t, "master", k.master.Admin(), 5, 0)
	if _, _, err := r.api.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c"}, Count: 3}); err != nil {
		t.Fatalf("multi-seat checkout at a relay: %v", err)
	}
	wantSeats(t, "master", k.master.Admin(), 5, 3)
}

func TestRelayAuthenticatesUpstreamWithItsToken(t *testing.T) {
	m := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 5}, Configure: func(c *daemon.Config) { c.ClientPassword = "site secret" }})
	k := &relayKit{t: t, master: m}
	without := k.startRelay(nil, daemon.Options{})
	if _, err := checkoutAt(without.api, "a"); usher.ErrorCode(err) != usher.EUnavailable || !strings.Contains(err.Error(), "upstream_token") {
		t.Fatalf("checkout at a relay without the upstream's password: got %v, want %s naming upstream_token", err, usher.EUnavailable)
	}
	with := k.startRelay(func(c *daemon.Config) { c.UpstreamToken = "site secret" }, daemon.Options{})
	mustCheckoutAt(t, with.api, "a")
	wantSeats(t, "master", m.Admin(), 5, 1)
}

// A block held as two leases upstream loses the seats of the first when it
// would expire there: the latest local lease ends then, though the block's
// other lease backs the rest, so the upstream may give that seat to others.
func TestRelayEndsTheLatestLeasesWhenAPartOfItsBlockEnds(t *testing.T) {
	k := startMaster(t, 5)
	r := k.startRelay(nil, daemon.Options{})
	a := mustCheckoutAt(t, r.api, "a") // the block's first lease upstream
	r.clock.Advance(time.Minute)
	b := mustCheckoutAt(t, r.api, "b") // its second, a minute younger
	wantSeats(t, "master", k.master.Admin(), 5, 2)
	k.master.Close()

	if err := r.api.Release(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	c := mustCheckoutAt(t, r.api, "c") // a's seat, of the first lease
	r.clock.Advance(usher.DefaultKeepaliveTimeout - time.Minute)
	r.tick()
	wantSeats(t, "relay once the first lease would have expired upstream", r.api, 1, 1)
	if _, err := r.api.Heartbeat(context.Background(), c); usher.ErrorCode(err) != usher.ELeaseNotFound {
		t.Fatalf("heartbeat of the latest lease: got %v, want %s", err, usher.ELeaseNotFound)
	}
	if _, err := r.api.Heartbeat(context.Background(), b); err != nil {
		t.Fatalf("heartbeat of the lease the second block lease backs: %v", err)
	}
}

// A block lease kicked upstream takes only its own seats from the block.
func TestRelayLosesOnlyTheSeatsOfABlockLeaseKickedUpstream(t *testing.T) {
	ctx := context.Background()
	k := startMaster(t, 5)
	r := k.startRelay(nil, daemon.Options{})
	a := mustCheckoutAt(t, r.api, "a")
	r.clock.Advance(time.Second)
	b := mustCheckoutAt(t, r.api, "b") // a second block lease
	master := k.master.Admin()
	ls, err := master.Leases(ctx)
	if err != nil || len(ls) != 2 {
		t.Fatalf("the master's leases: %+v, %v; want the two block leases", ls, err)
	}
	if err := master.Release(ctx, ls[0].ID); err != nil { // an admin's release is a kick
		t.Fatal(err)
	}
	r.clock.Advance(usher.DefaultKeepaliveTimeout / 2) // the block leases are due for renewal
	r.tick()
	wantSeats(t, "relay", r.api, 1, 1)
	wantSeats(t, "master", master, 5, 1)
	if _, err := r.api.Heartbeat(ctx, b); usher.ErrorCode(err) != usher.ELeaseNotFound {
		t.Fatalf("heartbeat of the latest local lease: got %v, want %s", err, usher.ELeaseNotFound)
	}
	if _, err := r.api.Heartbeat(ctx, a); err != nil {
		t.Fatalf("heartbeat of the lease the kept block lease backs: %v", err)
	}
}
