package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/usher-lm/usher/internal/wire"
)

const webhooksSynopsis = "webhooks list | add URL [--events P,...] [--secret-file F | --secret S] [--mode all|batch|current] [--interval D] | remove ID | log ID [--limit N] | redeliver DELIVERY_ID"

// cmdWebhooks manages the webhooks (docs/webhooks.md).
func cmdWebhooks(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: list, add, remove, log or redeliver")
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"list": webhooksList, "add": webhooksAdd, "remove": webhooksRemove, "log": webhooksLog, "redeliver": webhooksRedeliver,
	}[args[0]]
	if sub == nil {
		return usageErrorf("unknown subcommand %q: want list, add, remove, log or redeliver", args[0])
	}
	return sub(ctx, e, args[1:])
}

func webhooksList(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "webhooks list", webhooksSynopsis, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	hooks, err := c.Webhooks(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, wire.WebhooksResponse{Webhooks: hooks})
	}
	t := newTable(e.stdout, "ID", "SOURCE", "MODE", "EVENTS", "SECRET", "URL")
	for _, h := range hooks {
		mode := h.Mode
		if h.Interval != "" {
			mode += " every " + h.Interval
		}
		events, secret := strings.Join(h.Events, ","), "none"
		if events == "" {
			events = "*"
		}
		if h.HasSecret {
			secret = "set"
		}
		t.row(h.ID, h.Source, mode, termSafe(events), secret, termSafe(h.URL))
	}
	return t.flush()
}

func webhooksAdd(ctx context.Context, e *env, args []string) error {
	var req wire.WebhookRequest
	var events, secret, secretFile string
	c, a, pos, err := adminCommandWith(e, "webhooks add", webhooksSynopsis, args, func(fs *flag.FlagSet) {
		fs.StringVar(&events, "events", "", "send only events whose type matches one of these comma-separated `PATTERNS` (like lease_*,checkout_denied); default every event")
		fs.StringVar(&req.URL, "url", "", "the receiver's `URL` (or give it as the argument)")
		fs.StringVar(&secret, "secret", "", "sign deliveries with this `SECRET` (Usher-Signature); other users of the host may see it: prefer --secret-file")
		fs.StringVar(&secretFile, "secret-file", "", "sign deliveries with the secret in `FILE` (Usher-Signature); - reads it from standard input")
		fs.StringVar(&req.Mode, "mode", "all", "all: every event, in order; batch: every --interval, all new events; current: the latest state of each lease, license and feature")
		fs.StringVar(&req.Interval, "interval", "", "batch mode: deliver every `DURATION`, like 5m")
	})
	if err != nil {
		return err
	}
	if len(pos) == 1 && req.URL == "" {
		req.URL, pos = pos[0], nil
	}
	switch {
	case len(pos) != 0 || req.URL == "":
		return usageErrorf("want the receiver's URL, once")
	case secret != "" && secretFile != "":
		return usageErrorf("give --secret or --secret-file, not both")
	}
	if events != "" {
		req.Events = strings.Split(events, ",")
	}
	if req.Secret, err = readSecret(e, secretFile); err != nil {
		return err
	}
	if secret != "" {
		req.Secret = secret
	}
	h, err := c.AddWebhook(ctx, req)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, h)
	}
	fmt.Fprintf(e.stdout, "added webhook %s: it receives the events from now on\n", h.ID)
	return nil
}

// readSecret reads a webhook secret from a file, or standard input for
// "-": never from the command line, where other users could see it.
func readSecret(e *env, file string) (string, error) {
	var data []byte
	var err error
	switch file {
	case "":
		return "", nil
	case "-":
		if e.stdin == nil {
			return "", usageErrorf("--secret-file -: no standard input to read the secret from")
		}
		data, err = io.ReadAll(io.LimitReader(e.stdin, 64<<10))
	default:
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("read the webhook secret: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", usageErrorf("the secret in %s is empty", file)
	}
	return s, nil
}

func webhooksRemove(ctx context.Context, e *env, args []string) error {
	c, _, pos, err := adminCommand(e, "webhooks remove", webhooksSynopsis, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one webhook ID (see usher webhooks list)")
	}
	if err := c.RemoveWebhook(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed webhook %s and its delivery log\n", pos[0])
	return nil
}

func webhooksLog(ctx context.Context, e *env, args []string) error {
	var limit int
	c, a, pos, err := adminCommandWith(e, "webhooks log", webhooksSynopsis, args, func(fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", 50, "show the latest `N` deliveries")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one webhook ID (see usher webhooks list)")
	}
	log, err := c.WebhookLog(ctx, pos[0], limit)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, wire.DeliveriesResponse{Deliveries: log})
	}
	t := newTable(e.stdout, "DELIVERY", "EVENTS", "IDS", "STATUS", "ATTEMPTS", "LAST ATTEMPT", "NEXT", "ERROR")
	for _, d := range log {
		t.row(d.ID, d.Events, fmt.Sprintf("%d-%d", d.FirstEvent, d.LastEvent), d.Status, d.Attempts,
			formatOptTime(optTime(d.LastAttempt), "-"), formatOptTime(optTime(d.NextAttempt), "-"), termSafe(d.LastError))
	}
	return t.flush()
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func webhooksRedeliver(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "webhooks redeliver", webhooksSynopsis, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one delivery ID (see usher webhooks log)")
	}
	d, err := c.Redeliver(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, d)
	}
	fmt.Fprintf(e.stdout, "delivery %s (%s) is queued to be sent again, before newer ones\n", d.ID, countNoun(d.Events, "event", "events"))
	return nil
}
