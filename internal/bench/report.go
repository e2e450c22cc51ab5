package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// opNames says what one op of each scenario is, for the report.
var opNames = map[string]string{
	CheckoutRelease: "checkout+release pairs",
	Heartbeat:       "heartbeats",
	Startup:         "clients holding a seat",
	Hold:            "heartbeats",
	Bare:            "requests",
	Restart:         "leases restored",
}

// WriteJSON writes res as one JSON object on one line.
func WriteJSON(w io.Writer, res *Result) error {
	return json.NewEncoder(w).Encode(res)
}

// WriteTable writes res as a table for people.
func WriteTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("scenario", "%s", res.Scenario)
	row("server", "%s", res.Server)
	row("clients", "%d (%d workers)", res.Clients, res.Workers)
	if res.Rate > 0 {
		row("target rate", "%.0f/s (open loop)", res.Rate)
	}
	if res.Setup > 0 {
		row("setup", "%.2fs", res.Setup)
	}
	row("elapsed", "%.2fs", res.Elapsed)
	row("ops", "%d %s", res.Ops, opNames[res.Scenario])
	row("throughput", "%.0f/s", res.OpsPerSec)
	row("requests", "%d", res.Requests)
	writeUsage(row, res)
	row("errors", "%s", errorSummary(res))
	fmt.Fprintln(tw)
	if len(res.LatencyBy) > 0 {
		fmt.Fprintln(tw, "latency\tcount\tp50\tp90\tp99\tmax")
		for _, k := range requestKinds() {
			if l, ok := res.LatencyBy[k]; ok {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", k, l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
			}
		}
	}
	writeAttacks(tw, res)
	return tw.Flush()
}

// writeAttacks writes checkout-release without and beside each attack.
func writeAttacks(w io.Writer, res *Result) {
	if len(res.Attacks) == 0 {
		return
	}
	fmt.Fprintln(w, "\nattack\tpairs/s\tp50\tp99\tmax\terrors\tserver peak RSS\tthe attack got")
	for _, a := range res.Attacks {
		rss := "unknown"
		if a.PeakRSS > 0 {
			rss = mib(a.PeakRSS)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Attack, a.OpsPerSec, ms(a.P50), ms(a.P99), ms(a.Max),
			counts(a.Errors), rss, counts(a.Answers))
	}
}

// counts writes m as "key n, key n", largest first, or "none".
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	r := &Result{Errors: m}
	return errorSummary(r)
}

func writeUsage(row func(string, string, ...any), res *Result) {
	if res.Usage == "" {
		return
	}
	row("server usage", "%s", res.Usage)
	if res.RSS > 0 {
		row("server RSS", "%s (peak %s)", mib(res.RSS), mib(res.PeakRSS))
	}
	if res.RSSBefore > 0 {
		row("RSS per lease", "%.0f bytes (from %s before the leases)", res.RSSPerLease, mib(res.RSSBefore))
	} else if res.RSSPerLease > 0 {
		row("RSS per lease", "%.0f bytes (whole process / leases)", res.RSSPerLease)
	}
	if res.CPUPercent > 0 {
		row("server CPU", "%.2fs (%.1f%% of one core, %.1fµs per op)", res.CPU, res.CPUPercent, res.CPUPerOp)
	} else if res.CPU > 0 {
		row("server CPU", "%.2fs since it started", res.CPU)
	}
	if res.Store > 0 {
		row("store", "%s (%.0f bytes per lease)", mib(res.Store), res.StorePer)
	}
}

func errorSummary(res *Result) string {
	if len(res.Errors) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range res.ErrorCodes() {
		parts = append(parts, fmt.Sprintf("%s %d", c, res.Errors[c]))
	}
	return strings.Join(parts, ", ")
}

func ms(v float64) string { return fmt.Sprintf("%.3fms", v) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
