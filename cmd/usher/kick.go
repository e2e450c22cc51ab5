package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

func cmdKick(ctx context.Context, e *env, args []string) error {
	var k wire.KickRequest
	c, a, pos, err := adminCommandWith(e, "kick", "kick LEASE_ID | kick --all | kick [--user U] [--host H] [--feature F] [--client ID] [--ban 10m] [--json]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&k.User, "user", "", "kick every lease of `USER`")
		fs.StringVar(&k.Host, "host", "", "kick every lease from `HOST`")
		fs.StringVar(&k.Feature, "feature", "", "kick every lease of `FEATURE`")
		fs.StringVar(&k.ClientID, "client", "", "kick every lease of client `ID`")
		fs.BoolVar(&k.All, "all", false, "kick every lease of every client")
		fs.StringVar(&k.Ban, "ban", "", "also keep the --user or --host from checking out (the --feature, else any) for `DURATION`, like 10m")
	})
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("want at most one lease id")
	}
	if len(pos) == 1 {
		k.LeaseID = pos[0]
	}
	if k == (wire.KickRequest{}) {
		return usageErrorf("say what to kick: a lease id, --all, or --user, --host, --feature or --client")
	}
	if a.credential == "" {
		return errors.New("kicking needs the admin token: give --token, USHER_TOKEN or --data DIR")
	}
	if k.LeaseID != "" && k == (wire.KickRequest{LeaseID: k.LeaseID}) {
		return kickOne(ctx, e, a, c, k.LeaseID)
	}
	out, err := c.KickBan(ctx, k)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, out)
	}
	fmt.Fprintf(e.stdout, "kicked %d leases\n", len(out.Kicked))
	for _, id := range out.Kicked {
		fmt.Fprintln(e.stdout, termSafe(id))
	}
	if out.Ban != nil {
		fmt.Fprintf(e.stdout, "banned %s until %s (lift with: usher unban %s)\n", banWho(*out.Ban),
			out.Ban.Until.Local().Format(time.DateTime), termSafe(out.Ban.ID))
	}
	return nil
}

// banWho says whom a ban keeps off what.
func banWho(b usher.Ban) string {
	who := "user " + b.User
	switch {
	case b.User == "":
		who = "host " + b.Host
	case b.Host != "":
		who += " on host " + b.Host
	}
	what := "every feature"
	if b.Feature != "" {
		what = "feature " + b.Feature
	}
	return termSafe(who + " from " + what)
}

func cmdBans(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "bans", "bans [--json]", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	bans, err := c.Bans(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, wire.BansResponse{Bans: bans})
	}
	t := newTable(e.stdout, "ID", "FEATURE", "USER", "HOST", "UNTIL")
	for _, b := range bans {
		t.row(b.ID, firstNonEmpty(b.Feature, "*"), firstNonEmpty(b.User, "*"), firstNonEmpty(b.Host, "*"), b.Until.Local().Format(time.DateTime))
	}
	return t.flush()
}

func cmdUnban(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "unban", "unban BAN_ID [--json]", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one ban id: list them with usher bans")
	}
	b, err := c.Unban(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, b)
	}
	fmt.Fprintf(e.stdout, "lifted the ban on %s\n", banWho(b))
	return nil
}

// kickOne kicks one lease by id, reporting a missing one as an error.
func kickOne(ctx context.Context, e *env, a *adminFlags, c *apiclient.Client, id string) error {
	if err := c.Release(ctx, id); err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"kicked": id})
	}
	fmt.Fprintf(e.stdout, "kicked %s: its seat is free\n", id)
	return nil
}
