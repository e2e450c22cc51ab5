package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// reportSummary prints the usage report of a period: for people, as CSV,
// as JSON, or into a self-contained HTML file.
func reportSummary(ctx context.Context, e *env, c *apiclient.Client, a *adminFlags, q wire.ReportQuery, asCSV bool, html string) error {
	if q.Zone == "" {
		q.Zone = localZone(e)
	}
	zone, _, err := wire.ParseZone(q.Zone)
	if err != nil {
		return usageErrorf("%v", err)
	}
	r, err := c.Report(ctx, q)
	if err != nil {
		return err
	}
	switch {
	case html != "":
		return writeReportHTML(e, r, zone, html) // reporthtml.go
	case a.json:
		return printJSON(e, r)
	case asCSV:
		return writeReportCSV(e.stdout, r)
	}
	return printReport(e.stdout, r, zone)
}

// localZone names this computer's time zone for the server: TZ if it is
// a zone name, else the current offset from UTC.
func localZone(e *env) string {
	if tz := e.getenv("TZ"); tz != "" {
		if _, _, err := wire.ParseZone(tz); err == nil {
			return tz
		}
	}
	return time.Now().Format("-07:00")
}

// sparkBlocks are the levels of a sparkline, lowest first.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws vals as one block character each, scaled to top (the
// largest value when top is 0).
func sparkline(vals []int, top int) string {
	for _, v := range vals {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if top > 0 && v > 0 {
			i = max(1, (v*(len(sparkBlocks)-1)+top-1)/top) // any use shows above the floor
		}
		b.WriteRune(sparkBlocks[min(i, len(sparkBlocks)-1)])
	}
	return b.String()
}

// timelineWidth is the most columns a timeline sparkline takes.
const timelineWidth = 60

// resample spreads a feature's timeline over the report's period in
// steps of step and folds it into at most width columns, each the largest
// peak of the steps it covers. It returns the columns and the time each
// covers.
func resample(r wire.ReportResponse, f usher.FeatureReport, width int) ([]int, time.Duration) {
	step, err := time.ParseDuration(r.Step)
	if err != nil || step <= 0 {
		step = time.Hour
	}
	first := r.From.Truncate(step)
	n := max(1, int((r.To.Sub(first)+step-1)/step))
	per := (n + width - 1) / width
	cols := make([]int, (n+per-1)/per)
	for _, p := range f.Timeline {
		if i := int(p.Time.Sub(first)/step) / per; i >= 0 && i < len(cols) {
			cols[i] = max(cols[i], p.Peak)
		}
	}
	return cols, step * time.Duration(per)
}

// printReport writes the report for people, in 80 columns.
func printReport(w io.Writer, r wire.ReportResponse, zone *time.Location) error {
	const day = "2006-01-02 15:04"
	fmt.Fprintf(w, "Usage from %s to %s (%s)\n", r.From.In(zone).Format(day), r.To.In(zone).Format(day), termSafe(r.Zone))
	if r.EventsFrom != nil {
		fmt.Fprintf(w, "Events begin %s: waits, capacity, users and hosts start then.\n", r.EventsFrom.In(zone).Format(day))
	}
	fmt.Fprintln(w)
	t := newTable(w, "FEATURE", "SEATS", "PEAK", "CHECKOUTS", "DENIALS", "WAITED", "P95 WAIT", "SEAT-H", "CAPACITY")
	for _, f := range r.Features {
		t.row(f.Feature, licensedText(f), f.Peak, f.Checkouts, f.Denials, f.Waits.Granted+f.Waits.GaveUp,
			msText(f.Waits.P95MS), hoursText(f.SeatHours), capacityText(f.Capacity))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "CAPACITY: the fewest seats that would have served 99% of checkouts at once.")
	for _, f := range r.Features {
		cols, per := resample(r, f, timelineWidth)
		fmt.Fprintf(w, "\n%s in use, the peak of every %s (top %d of %s seats)\n  %s\n", termSafe(f.Feature), durationText(per), f.Peak, licensedText(f), sparkline(cols, 0))
	}
	printProfile(w, r)
	for _, by := range []struct {
		name string
		rows []usher.UsageTotal
	}{{"USER", r.Users}, {"HOST", r.Hosts}} {
		fmt.Fprintln(w)
		t := newTable(w, by.name, "CHECKOUTS", "DENIALS", "KICKS", "SEAT-HOURS")
		for _, u := range by.rows {
			t.row(firstNonEmpty(u.Key, "-"), u.Checkouts, u.Denials, u.Kicks, hoursText(float64(u.HeldSeconds)/3600))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

var weekdayNames = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// printProfile writes the busiest hours and days as sparklines of
// checkouts.
func printProfile(w io.Writer, r wire.ReportResponse) {
	hours, days := make([]int, len(r.Hours)), make([]int, len(r.Weekdays))
	for i, h := range r.Hours {
		hours[i] = h.Checkouts
	}
	for i, d := range r.Weekdays {
		days[i] = d.Checkouts
	}
	fmt.Fprintf(w, "\nCheckouts by hour of the day (%s)%s\n  %s\n  0     6     12    18   23\n", termSafe(r.Zone), busiest(hours, func(i int) string { return fmt.Sprintf("%02d:00", i) }), sparkline(hours, 0))
	fmt.Fprintf(w, "\nCheckouts by day of the week%s\n  %s\n  M T W T F S S\n", busiest(days, func(i int) string { return weekdayNames[i] }), spaced(sparkline(days, 0)))
}

// spaced puts a space between the characters of s, so that each lines
// up with a label of the same width.
func spaced(s string) string {
	rs := []rune(s)
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, " ")
}

// busiest names the busiest of vals, or says there was nothing.
func busiest(vals []int, name func(int) string) string {
	best := -1
	for i, v := range vals {
		if v > 0 && (best < 0 || v > vals[best]) {
			best = i
		}
	}
	if best < 0 {
		return ": none"
	}
	return fmt.Sprintf(": busiest %s, %d", name(best), vals[best])
}

func licensedText(f usher.FeatureReport) string {
	if f.Unlimited {
		return "unlimited"
	}
	return strconv.Itoa(f.Seats)
}

func capacityText(c usher.CapacityEstimate) string {
	if c.Requests == 0 {
		return "-"
	}
	return strconv.Itoa(c.Seats)
}

func hoursText(h float64) string { return strconv.FormatFloat(h, 'f', 2, 64) }

func msText(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return durationText(time.Duration(ms) * time.Millisecond)
}

// durationText writes d briefly: 1.5s, 3m20s, 2h, 1d.
func durationText(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Minute:
		s := d.Round(time.Second).String()
		s = strings.TrimSuffix(s, "0s")
		return strings.TrimSuffix(s, "0m")
	}
	return d.Round(100 * time.Millisecond).String()
}

// reportCSVHeader are the columns of the report as CSV; see docs/reports.md.
var reportCSVHeader = []string{"section", "name", "seats", "peak", "checkouts", "denials", "kicks", "seat_hours",
	"waited", "gave_up", "wait_p50_ms", "wait_p95_ms", "wait_max_ms", "requests", "max_demand", "capacity"}

// writeReportCSV writes the report as one table: a row per feature, user,
// host, hour of the day and day of the week, the section saying which.
// Cells that do not apply to a section are empty.
func writeReportCSV(out io.Writer, r wire.ReportResponse) error {
	w := csv.NewWriter(out)
	w.Write(reportCSVHeader)
	itoa, ftoa := strconv.Itoa, func(h float64) string { return strconv.FormatFloat(h, 'f', 3, 64) }
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, f := range r.Features {
		seats := itoa(f.Seats)
		if f.Unlimited {
			seats = "unlimited"
		}
		wt, c := f.Waits, f.Capacity
		// Without a wait or a request there is no percentile or estimate:
		// those cells stay empty, as the table prints "-", rather than 0.
		p50, p95, pmax := "", "", ""
		if wt.Granted > 0 {
			p50, p95, pmax = i64(wt.P50MS), i64(wt.P95MS), i64(wt.MaxMS)
		}
		demand, capacity := "", ""
		if c.Requests > 0 {
			demand, capacity = itoa(c.MaxDemand), itoa(c.Seats)
		}
		w.Write([]string{"feature", f.Feature, seats, itoa(f.Peak), itoa(f.Checkouts), itoa(f.Denials), "", ftoa(f.SeatHours),
			itoa(wt.Granted), itoa(wt.GaveUp), p50, p95, pmax, itoa(c.Requests), demand, capacity})
	}
	for _, sec := range []struct {
		name string
		rows []usher.UsageTotal
	}{{"user", r.Users}, {"host", r.Hosts}} {
		for _, u := range sec.rows {
			w.Write([]string{sec.name, u.Key, "", "", itoa(u.Checkouts), itoa(u.Denials), itoa(u.Kicks), ftoa(float64(u.HeldSeconds) / 3600),
				"", "", "", "", "", "", "", ""})
		}
	}
	for _, sec := range []struct {
		name string
		rows []usher.PeriodUsage
		key  func(int) string
	}{{"hour", r.Hours, func(i int) string { return fmt.Sprintf("%02d", i) }}, {"weekday", r.Weekdays, func(i int) string { return weekdayNames[i] }}} {
		for _, p := range sec.rows {
			w.Write([]string{sec.name, sec.key(p.Period), "", itoa(p.Peak), itoa(p.Checkouts), itoa(p.Denials), "", "",
				"", "", "", "", "", "", "", ""})
		}
	}
	w.Flush()
	return w.Error()
}
