package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/usher-lm/usher/internal/discovery"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// cmdDiscover lists the Usher servers that answer on the LAN, or with
// --watch prints their announcements as they arrive. See docs/discovery.md.
func cmdDiscover(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "discover", "discover [--timeout 2s] [--json] [--scan CIDR|ADDR,...] [--watch]")
	var (
		opts          discovery.FindOptions
		asJSON, watch bool
	)
	fs.DurationVar(&opts.Timeout, "timeout", lan.DefaultTimeout, "wait this `DURATION` for answers")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.Func("scan", "also ask these `ADDRESSES` or subnets directly, comma-separated (repeatable), where broadcast is filtered", func(s string) error {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				opts.Scan = append(opts.Scan, a)
			}
		}
		return nil
	})
	fs.IntVar(&opts.Port, "port", lan.DefaultPort, "the discovery `PORT` (the servers' discovery_port)")
	fs.StringVar(&opts.Feature, "feature", "", "ask servers to list this `FEATURE` first, and list servers that serve it first (it does not hide the others)")
	fs.BoolVar(&opts.NoMDNS, "no-mdns", false, "do not browse mDNS (_usher._tcp)")
	fs.BoolVar(&watch, "watch", false, "print the servers' announcements as they arrive, until interrupted")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: discover takes none (use --scan ADDR)", pos[0])
	}
	if watch {
		return watchAnnouncements(ctx, e, opts.Port, asJSON)
	}
	found, err := discovery.Find(ctx, opts)
	if err != nil {
		return err
	}
	if asJSON {
		if found == nil {
			found = []lan.Server{}
		}
		return printJSON(e, found)
	}
	if len(found) == 0 {
		return fmt.Errorf("no Usher server answered within %s: check that one runs with discovery on, and that UDP port %d is open; where broadcast is filtered, try --scan 10.0.0.0/24", opts.Timeout, opts.Port)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGUID\tVERSION\tURL\tFEATURES")
	for _, s := range found {
		features := strings.Join(s.Features, ",")
		if s.Truncated {
			features += ",…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.GUID, s.Version, strings.Join(s.URLs, " "), features)
	}
	return tw.Flush()
}

// watchAnnouncements prints announcements until ctx ends.
func watchAnnouncements(ctx context.Context, e *env, port int, asJSON bool) error {
	w, err := lan.Watch(lan.AnnouncePort(port), nil, nil)
	if err != nil {
		return fmt.Errorf("listen for announcements on UDP port %d: %w", lan.AnnouncePort(port), err)
	}
	defer w.Close()
	enc := json.NewEncoder(e.stdout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-w.C():
			if asJSON {
				enc.Encode(toJSON(h))
				continue
			}
			fmt.Fprintf(e.stdout, "%s %-22s %s %s seq %d from %s%s\n", h.Sent.Local().Format(time.TimeOnly), h.Event, h.Name, h.GUID, h.Seq, h.From, describe(h))
		}
	}
}

// heardJSON is an announcement as --watch --json prints it.
type heardJSON struct {
	lan.Announcement
	From     string `json:"from"`
	Verified bool   `json:"verified"`
	// Unverified says why the signature proves nothing.
	Unverified string `json:"unverified,omitempty"`
}

func toJSON(h lan.Heard) heardJSON {
	j := heardJSON{Announcement: h.Announcement, From: h.From.String(), Verified: h.Unverified == nil}
	if h.Unverified != nil {
		j.Unverified = h.Unverified.Error()
	}
	return j
}

// describe is the tail of a --watch line: URLs, bound licenses, and a
// warning for an unsigned announcement.
func describe(h lan.Heard) string {
	s := " " + strings.Join(h.URLs, " ")
	if len(h.Licenses) > 0 {
		s += " licenses " + strings.Join(h.Licenses, ",")
	}
	if h.Unverified != nil {
		s += " UNVERIFIED: " + h.Unverified.Error()
	}
	return s
}
