package main

import (
	"context"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/wire"
)

func TestKickBanAndReportByCommands(t *testing.T) {
	url, dir, _, _, _ := startServer(t)
	ctx := context.Background()
	api := apiclient.MustNew(url, "")
	take := func(id, user, host string) error {
		_, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id, User: user, Host: host}})
		return err
	}
	for _, c := range []struct{ id, user, host string }{{"c1", "alice", "ws1"}, {"c2", "bob", "ws2"}} {
		if err := take(c.id, c.user, c.host); err != nil {
			t.Fatal(err)
		}
	}
	conn := []string{"--server", url, "--data", dir}
	cli := func(args ...string) (int, string, string) { return runCtx(ctx, append(args, conn...)...) }

	if code, out, errs := cli("report", "--by", "user", "--csv"); code != 0 || !strings.HasPrefix(out, "user,checkouts,denials,kicks,held_seconds\n") ||
		!strings.Contains(out, "alice,1,0,0,") || !strings.Contains(out, "bob,1,0,0,") {
		t.Errorf("report --by user --csv: exit %d, %q %q", code, out, errs)
	}
	if code, out, errs := cli("report", "--by", "host"); code != 0 || !strings.Contains(out, "HOURS HELD") || !strings.Contains(out, "ws2") {
		t.Errorf("report --by host: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := cli("report", "--by", "client"); code != 1 || !strings.Contains(errs, "user, host or feature") {
		t.Errorf("report --by client: exit %d, %q", code, errs)
	}
	if code, out, errs := cli("kick", "--user", "alice", "--ban", "10m"); code != 0 || !strings.Contains(out, "kicked 1 leases") ||
		!strings.Contains(out, "banned user alice from every feature") {
		t.Errorf("kick --ban: exit %d, %q %q", code, out, errs)
	}
	if err := take("c1", "alice", "ws1"); usher.ErrorCode(err) != usher.EBanned {
		t.Errorf("checkout after kick --ban: got %v, want %s", err, usher.EBanned)
	}
	code, out, errs := cli("bans")
	if code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("bans: exit %d, %q %q", code, out, errs)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, errs := cli("unban", id); code != 0 || !strings.Contains(out, "lifted the ban on user alice") {
		t.Errorf("unban: exit %d, %q %q", code, out, errs)
	}
	if err := take("c1", "alice", "ws1"); err != nil {
		t.Errorf("checkout after unban: got %v, want a lease", err)
	}
	if code, out, errs := cli("kick", "--all"); code != 0 || !strings.Contains(out, "kicked 2 leases") {
		t.Errorf("kick --all: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := cli("kick", "--all", "--ban", "1m"); code != 1 || !strings.Contains(errs, "not with all") {
		t.Errorf("kick --all --ban: exit %d, %q", code, errs)
	}
}
