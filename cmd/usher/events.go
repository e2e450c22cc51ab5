package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

func cmdEvents(ctx context.Context, e *env, args []string) error {
	var q wire.EventsQuery
	var follow bool
	c, a, pos, err := adminCommandWith(e, "events", "events [--since 1h] [--type T,...] [--feature F] [--limit N] [--follow] [--json]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&q.Since, "since", "", "events since `TIME` (RFC 3339) or DURATION ago (24h)")
		fs.StringVar(&q.Type, "type", "", "only these event `TYPES`, comma-separated (see docs/events.md)")
		fs.StringVar(&q.Feature, "feature", "", "only events of `FEATURE`")
		fs.IntVar(&q.Limit, "limit", 0, "at most `N` events (default 100; the latest ones unless --since is given)")
		fs.BoolVar(&follow, "follow", false, "after the stored events, print new ones as they happen, until interrupted")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if follow {
		return followEvents(ctx, e, a, c, q)
	}
	recs, err := c.Events(ctx, q)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"events": recs})
	}
	for _, r := range recs {
		printEvent(e, a, r)
	}
	return nil
}

// followEvents prints the stored events that stored selects, then streams
// new ones until ctx ends. When the stream ends, it reconnects with the
// last event's id, so the server replays what was missed and nothing is
// printed twice: at once when the server dropped a client that fell
// behind, with back-off while the server is down (saying so once on
// stderr, and once when it is back). An error before anything was
// printed or followed ends it, as it ends the command without --follow.
func followEvents(ctx context.Context, e *env, a *adminFlags, c *apiclient.Client, stored wire.EventsQuery) error {
	q := wire.EventsQuery{Type: stored.Type, Feature: stored.Feature}
	var lost time.Time // when the server was lost; zero while following
	delay := followMinDelay
	started := false
	for {
		s, err := openStream(ctx, e, a, c, stored, &q)
		if err != nil && !started && q.AfterID == 0 && ctx.Err() == nil {
			return err
		}
		if err == nil {
			started = true
			if !lost.IsZero() {
				fmt.Fprintf(e.stderr, "usher events: the server at %s is back after %s; following again\n", c.Server(), time.Since(lost).Round(100*time.Millisecond))
				lost, delay = time.Time{}, followMinDelay
			}
			err = s.Each(func(r wire.Event) error {
				printEvent(e, a, r)
				q.AfterID = r.ID
				return nil
			})
			s.Close()
		}
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: the normal way to stop following
		case errors.Is(err, apiclient.ErrStreamDropped):
			continue
		case !serverLost(err):
			return err
		}
		if lost.IsZero() {
			lost = time.Now()
			why := errorText(err)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				why = "the event stream closed"
			}
			fmt.Fprintf(e.stderr, "usher events: lost the server at %s (%s); reconnecting until interrupted\n", c.Server(), why)
		}
		if !sleepCtx(ctx, delay) {
			return nil
		}
		delay = min(2*delay, followMaxDelay)
	}
}

// openStream opens the event stream after the last event printed,
// q.AfterID. Until an event is printed there is no such point, so it
// subscribes first and then prints the stored events that stored selects:
// an event stored in between is in one or the other. If it printed some,
// it opens the stream again after the last one, so that the server
// replays what the stored query left out and nothing is printed twice.
func openStream(ctx context.Context, e *env, a *adminFlags, c *apiclient.Client, stored wire.EventsQuery, q *wire.EventsQuery) (*apiclient.EventStream, error) {
	s, err := c.OpenEventStream(ctx, *q)
	if err != nil || q.AfterID > 0 {
		return s, err
	}
	recs, err := c.Events(ctx, stored)
	if err != nil {
		s.Close()
		return nil, err
	}
	if len(recs) == 0 {
		return s, nil // it holds every event stored since the query
	}
	s.Close()
	for _, r := range recs {
		printEvent(e, a, r)
	}
	q.AfterID = recs[len(recs)-1].ID
	return c.OpenEventStream(ctx, *q)
}

// Back-off between attempts to reach a lost server.
const (
	followMinDelay = 250 * time.Millisecond
	followMaxDelay = 5 * time.Second
)

// serverLost reports whether err means the server is down or restarting,
// rather than refusing the stream (a bad token, a bad filter).
func serverLost(err error) bool {
	var ue *usher.Error
	if !errors.As(err, &ue) {
		return true // the connection failed or closed mid-stream
	}
	switch ue.Code {
	case usher.EUnavailable, usher.EInternal, usher.ERateLimited:
		return true
	}
	return false
}

// sleepCtx waits for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// printEvent writes one event: a JSON line with --json, else a text line.
func printEvent(e *env, a *adminFlags, r wire.Event) {
	if a.json {
		data, _ := json.Marshal(r)
		fmt.Fprintf(e.stdout, "%s\n", data)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-16s", r.Time.Local().Format("2006-01-02 15:04:05.000"), termSafe(r.Type))
	for _, kv := range [][2]string{
		{"feature", r.Feature}, {"lease", r.LeaseID}, {"license", r.LicenseID}, {"client", r.Client.ID},
		{"user", r.Client.User}, {"host", r.Client.Host}, {"reason", r.Reason},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], strconv.Quote(kv[1]))
		}
	}
	fmt.Fprintln(e.stdout, b.String())
}

func cmdReport(ctx context.Context, e *env, args []string) error {
	q := wire.UsageQuery{From: "24h"}
	var asCSV, consumption bool
	var zone, html string
	c, a, pos, err := adminCommandWith(e, "report", "report [--from 24h] [--to TIME] [--feature F] [--step 1h | --by user|host|feature | --consumption] [--tz ZONE] [--csv|--json|--html FILE]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&consumption, "consumption", false, "the units each client spent of each metered feature in its current period")
		fs.StringVar(&q.From, "from", q.From, "from `TIME` (RFC 3339) or DURATION ago")
		fs.StringVar(&q.To, "to", "", "up to `TIME` (RFC 3339) or DURATION ago (default now)")
		fs.StringVar(&q.Feature, "feature", "", "only `FEATURE`")
		fs.StringVar(&q.Step, "step", "", "instead of the summary, one row per feature and `DURATION` (whole minutes)")
		fs.StringVar(&q.By, "by", "", "instead of the summary, one row per `user, host or feature` over the whole period")
		fs.StringVar(&zone, "tz", "", "time `ZONE` of the summary's times and busiest hours: a name (Europe/Paris) or an offset (+01:00); default this computer's")
		fs.StringVar(&html, "html", "", "write the summary as a self-contained HTML `FILE` to mail or print")
		fs.BoolVar(&asCSV, "csv", false, "print CSV")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if n := countTrue(asCSV, a.json, html != ""); n > 1 {
		return usageErrorf("give one of --csv, --json and --html")
	}
	if n := countTrue(consumption, q.By != "", q.Step != ""); n > 1 || n == 1 && html != "" {
		return usageErrorf("give one of --step, --by and --consumption, or none for the summary (the only one --html writes)")
	}
	if consumption {
		return reportConsumption(ctx, e, c, a, asCSV) // meter.go
	}
	if q.By != "" {
		return reportBy(ctx, e, c, a, q, asCSV)
	}
	if q.Step == "" {
		return reportSummary(ctx, e, c, a, wire.ReportQuery{Feature: q.Feature, From: q.From, To: q.To, Zone: zone}, asCSV, html) // report.go
	}
	u, err := c.Usage(ctx, q)
	if err != nil {
		return err
	}
	switch {
	case a.json:
		return printJSON(e, u)
	case asCSV:
		w := csv.NewWriter(e.stdout)
		w.Write([]string{"time", "feature", "peak", "checkouts", "denials"})
		for _, p := range u.Usage {
			w.Write([]string{p.Time.UTC().Format(time.RFC3339), p.Feature, strconv.Itoa(p.Peak), strconv.Itoa(p.Checkouts), strconv.Itoa(p.Denials)})
		}
		w.Flush()
		return w.Error()
	}
	t := newTable(e.stdout, "TIME (step "+u.Step+")", "FEATURE", "PEAK IN USE", "CHECKOUTS", "DENIALS")
	for _, p := range u.Usage {
		t.row(p.Time.Local().Format("2006-01-02 15:04"), p.Feature, p.Peak, p.Checkouts, p.Denials)
	}
	return t.flush()
}

// reportBy prints the usage of the period per user, host or feature.
func reportBy(ctx context.Context, e *env, c *apiclient.Client, a *adminFlags, q wire.UsageQuery, asCSV bool) error {
	u, err := c.UsageBy(ctx, q)
	if err != nil {
		return err
	}
	switch {
	case a.json:
		return printJSON(e, u)
	case asCSV:
		w := csv.NewWriter(e.stdout)
		w.Write([]string{u.By, "checkouts", "denials", "kicks", "held_seconds"})
		for _, t := range u.Totals {
			w.Write([]string{t.Key, strconv.Itoa(t.Checkouts), strconv.Itoa(t.Denials), strconv.Itoa(t.Kicks), strconv.FormatInt(t.HeldSeconds, 10)})
		}
		w.Flush()
		return w.Error()
	}
	t := newTable(e.stdout, strings.ToUpper(u.By), "CHECKOUTS", "DENIALS", "KICKS", "HOURS HELD")
	for _, r := range u.Totals {
		t.row(firstNonEmpty(r.Key, "-"), r.Checkouts, r.Denials, r.Kicks, strconv.FormatFloat(float64(r.HeldSeconds)/3600, 'f', 2, 64))
	}
	return t.flush()
}

// countTrue returns how many of bs are true.
func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
