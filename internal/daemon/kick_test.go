package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

func checkoutOn(c *apiclient.Client, feature, id, user, host string) error {
	_, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: id, User: user, Host: host}})
	return err
}

func TestKickAll(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 5, "cam": 5}})
	c, ctx := srv.Admin(), context.Background()
	for i, f := range []string{"cad", "cad", "cam"} {
		if err := checkoutOn(c, f, "c"+string(rune('0'+i)), "u", "h"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.KickBan(ctx, wire.KickRequest{All: true})
	if err != nil || len(out.Kicked) != 3 {
		t.Fatalf("kick all: got %v, %v; want 3 leases", out.Kicked, err)
	}
	if leases, _ := c.Leases(ctx); len(leases) != 0 {
		t.Fatalf("after kick all: got %d leases, want 0", len(leases))
	}
	for _, req := range []wire.KickRequest{{All: true, User: "u"}, {All: true, Ban: "10m"}} {
		if _, err := c.Kick(ctx, req); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("kick %+v: got %v, want %s", req, err, usher.EInvalid)
		}
	}
}

func TestKickBanHoldsAcrossRestart(t *testing.T) {
	clock := ushertest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 5, "cam": 5}, Daemon: daemon.Options{Now: clock.Now}})
	c, ctx := srv.Admin(), context.Background()
	if err := checkoutOn(c, "cad", "c1", "alice", "ws1"); err != nil {
		t.Fatal(err)
	}
	out, err := c.KickBan(ctx, wire.KickRequest{User: "alice", Feature: "cad", Ban: "10m"})
	if err != nil || len(out.Kicked) != 1 || out.Ban == nil {
		t.Fatalf("kick --ban: got %+v, %v; want one lease kicked and a ban", out, err)
	}
	err = checkoutOn(c, "cad", "c1", "alice", "ws1")
	if usher.ErrorCode(err) != usher.EBanned || !strings.Contains(err.Error(), "2026-11-23T12:10:00Z") {
		t.Fatalf("checkout after kick --ban: got %v, want %s naming the end", err, usher.EBanned)
	}
	if err := checkoutOn(c, "cam", "c1", "alice", "ws1"); err != nil {
		t.Fatalf("checkout of another feature: got %v, want a lease", err)
	}
	srv.Restart()
	c = srv.Admin()
	if err := checkoutOn(c, "cad", "c1", "alice", "ws1"); usher.ErrorCode(err) != usher.EBanned {
		t.Fatalf("checkout after restart: got %v, want %s", err, usher.EBanned)
	}
	bans, err := c.Bans(ctx)
	if err != nil || len(bans) != 1 || bans[0].ID != out.Ban.ID {
		t.Fatalf("bans after restart: got %+v, %v; want [%s]", bans, err, out.Ban.ID)
	}
	clock.Advance(10 * time.Minute)
	if err := checkoutOn(c, "cad", "c1", "alice", "ws1"); err != nil {
		t.Fatalf("checkout once the ban ended: got %v, want a lease", err)
	}
}

func TestUnbanOverAPI(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 5}})
	c, ctx := srv.Admin(), context.Background()
	out, err := c.KickBan(ctx, wire.KickRequest{Host: "kiosk", Ban: "1h"})
	if err != nil || out.Ban == nil {
		t.Fatalf("kick --ban: got %+v, %v", out, err)
	}
	if err := checkoutOn(c, "cad", "c1", "bob", "kiosk"); usher.ErrorCode(err) != usher.EBanned {
		t.Fatalf("checkout from a banned host: got %v, want %s", err, usher.EBanned)
	}
	if _, err := c.Unban(ctx, out.Ban.ID); err != nil {
		t.Fatalf("unban: %v", err)
	}
	if err := checkoutOn(c, "cad", "c1", "bob", "kiosk"); err != nil {
		t.Fatalf("checkout after unban: got %v, want a lease", err)
	}
	if _, err := c.Unban(ctx, out.Ban.ID); usher.ErrorCode(err) != usher.EBanNotFound {
		t.Fatalf("unban again: got %v, want %s", err, usher.EBanNotFound)
	}
}

func TestRestartThroughAPIOnlySignals(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 1}})
	d := srv.Daemon
	if d.RestartRequested() {
		t.Fatal("restart requested before any was asked for")
	}
	if err := srv.Admin().Restart(context.Background()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop within 10s of a restart request")
	}
	if !d.RestartRequested() {
		t.Fatal("stopped for a restart, but RestartRequested is false")
	}
	srv.Daemon = nil // closed already
}
