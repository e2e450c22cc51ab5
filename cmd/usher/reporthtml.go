package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// reportHTML is the template of the HTML report: one file with its style
// and charts inline, nothing fetched, so that it can be mailed and
// printed.
//
//go:embed report.html.tmpl
var reportHTML string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"hours": func(seconds int64) float64 { return float64(seconds) / 3600 },
}).Parse(reportHTML))

// chart is a bar chart drawn as inline SVG.
type chart struct {
	Width, Height int
	Bars          []bar
	Lines         []hline // levels across the chart: seats, capacity
	Labels        []label // under the bars
	Top           int     // the value of the top of the chart
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type hline struct {
	Y     float64
	Class string
	Text  string
}

type label struct {
	X      float64
	Text   string
	Anchor string // start, middle or end
}

// chartHeight is the height of the bars' area; labels go below it.
const chartHeight = 120

// newChart draws series of values (each a class of bars side by side) as
// bars of width that fill the chart, scaled to top.
func newChart(width, top int, titles func(i int) string, series ...barSeries) chart {
	for _, s := range series {
		for _, v := range s.vals {
			top = max(top, v)
		}
	}
	top = max(top, 1)
	c := chart{Width: width, Height: chartHeight + 18, Top: top}
	n := len(series[0].vals)
	slot := float64(width) / float64(max(n, 1))
	w := slot * 0.8 / float64(len(series))
	for i := range n {
		for k, s := range series {
			h := float64(s.vals[i]) * chartHeight / float64(top)
			c.Bars = append(c.Bars, bar{X: float64(i)*slot + slot*0.1 + float64(k)*w, Y: chartHeight - h, W: w, H: h, Class: s.class,
				Title: fmt.Sprintf("%s: %d %s", titles(i), s.vals[i], s.class)})
		}
	}
	return c
}

type barSeries struct {
	class string
	vals  []int
}

// level adds a line across c at v, if v is within it.
func (c *chart) level(v int, class, text string) {
	if v <= 0 || v > c.Top {
		return
	}
	c.Lines = append(c.Lines, hline{Y: chartHeight - float64(v)*chartHeight/float64(c.Top), Class: class, Text: text})
}

// htmlFeature is a feature's section of the HTML report.
type htmlFeature struct {
	usher.FeatureReport
	SeatsText, CapacityText, P50, P95, Max string
	Chart                                  chart
}

// writeReportHTML writes the report as a self-contained HTML file.
func writeReportHTML(e *env, r wire.ReportResponse, zone *time.Location, path string) error {
	const day = "2006-01-02 15:04"
	data := struct {
		R                wire.ReportResponse
		From, To, Events string
		Generated        string
		Features         []htmlFeature
		Hours, Days      chart
	}{R: r, From: r.From.In(zone).Format(day), To: r.To.In(zone).Format(day), Generated: time.Now().In(zone).Format(day)}
	if r.EventsFrom != nil {
		data.Events = r.EventsFrom.In(zone).Format(day)
	}
	for _, f := range r.Features {
		cols, per := resample(r, f, 120)
		top := f.Seats
		if f.Unlimited {
			top = 0
		}
		start := r.From.Truncate(per)
		c := newChart(720, max(top, f.Capacity.Seats), func(i int) string {
			return start.Add(time.Duration(i) * per).In(zone).Format(day)
		}, barSeries{"in use", cols})
		if !f.Unlimited {
			c.level(f.Seats, "seats", fmt.Sprintf("%d licensed", f.Seats))
		}
		if f.Capacity.Requests > 0 && f.Capacity.Seats != f.Seats {
			c.level(f.Capacity.Seats, "capacity", fmt.Sprintf("%d needed for 99%%", f.Capacity.Seats))
		}
		c.Labels = []label{{X: 0, Text: data.From, Anchor: "start"}, {X: 720, Text: data.To, Anchor: "end"}}
		data.Features = append(data.Features, htmlFeature{FeatureReport: f, SeatsText: licensedText(f), CapacityText: capacityText(f.Capacity),
			P50: msText(f.Waits.P50MS), P95: msText(f.Waits.P95MS), Max: msText(f.Waits.MaxMS), Chart: c})
	}
	data.Hours = profileChart(r.Hours, 720, func(i int) string { return fmt.Sprintf("%02d:00", i) }, 3)
	data.Days = profileChart(r.Weekdays, 360, func(i int) string { return weekdayNames[i] }, 1)
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, data); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", path)
	return nil
}

// profileChart draws checkouts and denials per hour or day, labelling
// every every-th.
func profileChart(ps []usher.PeriodUsage, width int, name func(int) string, every int) chart {
	co, de := make([]int, len(ps)), make([]int, len(ps))
	for i, p := range ps {
		co[i], de[i] = p.Checkouts, p.Denials
	}
	c := newChart(width, 0, name, barSeries{"checkouts", co}, barSeries{"denials", de})
	slot := float64(width) / float64(max(len(ps), 1))
	for i := 0; i < len(ps); i += every {
		c.Labels = append(c.Labels, label{X: float64(i)*slot + slot/2, Text: name(i), Anchor: "middle"})
	}
	return c
}
