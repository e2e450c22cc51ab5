package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestReportSummary fills the dev feature's five seats, is refused once,
// waits in line once until a seat comes free and once until the wait runs
// out, and reads the report in every format.
func TestReportSummary(t *testing.T) {
	url, dir, _, _, _ := startServer(t)
	ctx := context.Background()
	api := apiclient.MustNew(url, "")
	checkout := func(id, user, host, wait string) (wire.LeaseResponse, error) {
		l, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Wait: wait, Client: usher.Client{ID: id, User: user, Host: host}})
		return l, err
	}
	var first string
	for i, u := range []string{"alice", "alice", "alice", "bob", "bob"} {
		l, err := checkout("c"+string(rune('1'+i)), u, "ws-"+u, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = l.ID
		}
	}
	if _, err := checkout("c6", "carol", "ws-carol", ""); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("sixth checkout: got %v, want no seats", err)
	}
	granted := make(chan error, 1)
	go func() {
		_, err := checkout("c7", "carol", "ws-carol", "20s")
		granted <- err
	}()
	queued := func(n int) func() error {
		return ushertest.Until("a checkout in line", func() bool {
			fs, err := api.Features(ctx)
			return err == nil && len(fs) > 0 && fs[0].Queued == n
		})
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, queued(1))
	if _, err := checkout("c8", "dave", "ws-dave", "300ms"); usher.ErrorCode(err) != usher.ENoSeats {
		t.Fatalf("checkout whose wait runs out: got %v, want no seats", err)
	}
	if err := api.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := <-granted; err != nil {
		t.Fatalf("the checkout in line: %v", err)
	}

	conn := []string{"--server", url, "--data", dir, "--tz", "UTC"}
	cli := func(args ...string) string {
		t.Helper()
		code, out, errs := runCtx(ctx, append(args, conn...)...)
		if code != 0 {
			t.Fatalf("usher %s: exit %d, %s", strings.Join(args, " "), code, errs)
		}
		return out
	}

	var r wire.ReportResponse
	if err := json.Unmarshal([]byte(cli("report", "--json")), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Features) != 1 {
		t.Fatalf("features: %+v", r.Features)
	}
	// Demands: 1 to 5 for the seats, 6 for the refusal, 6 for c7 joining
	// the line, 7 for c8 joining behind it.
	f := r.Features[0]
	if f.Peak != 5 || f.Seats != 5 || f.Checkouts != 6 || f.Denials != 2 || f.Capacity != (usher.CapacityEstimate{Requests: 8, MaxDemand: 7, Seats: 7}) {
		t.Errorf("feature: got %+v", f)
	}
	if w := f.Waits; w.Granted != 1 || w.GaveUp != 1 || w.P50MS <= 0 || w.MaxMS != w.P50MS {
		t.Errorf("waits: got %+v, want one granted, one gave up", w)
	}
	if len(r.Users) != 4 || r.Users[0].Key != "alice" || len(r.Hosts) != 4 || len(r.Hours) != 24 || len(r.Weekdays) != 7 {
		t.Errorf("users %+v, hosts %+v, %d hours, %d days", r.Users, r.Hosts, len(r.Hours), len(r.Weekdays))
	}

	text := cli("report")
	for _, want := range []string{"CAPACITY", "demo", "carol", "ws-dave", "Checkouts by hour of the day (UTC)", "▁"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if utf8.RuneCountInString(line) > 80 {
			t.Errorf("a line of %d columns: %q", utf8.RuneCountInString(line), line)
		}
	}

	rows, err := csv.NewReader(strings.NewReader(cli("report", "--csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(reportCSVHeader, ",") ||
		strings.Join(rows[1], ",") != "feature,demo,5,5,6,2,,"+rows[1][7]+",1,1,"+strings.Join(rows[1][10:13], ",")+",8,7,7" {
		t.Errorf("csv: %q", rows[:2])
	}
	if n := len(rows); n != 1+1+4+4+24+7 {
		t.Errorf("csv: %d rows, want a header, a feature, 4 users, 4 hosts, 24 hours and 7 days", n)
	}

	out := filepath.Join(t.TempDir(), "report.html")
	cli("report", "--html", out)
	checkReportHTML(t, out)

	for _, args := range [][]string{{"--csv", "--json"}, {"--json", "--html", out}, {"--by", "user", "--step", "1h"}, {"--by", "user", "--html", out}} {
		if code, _, errs := runCtx(ctx, append(append([]string{"report"}, args...), conn...)...); code != 2 || !strings.Contains(errs, "give one of") {
			t.Errorf("usher report %s: exit %d, %q; want a usage error", strings.Join(args, " "), code, errs)
		}
	}
}

// checkReportHTML parses the HTML report and checks that it stands alone:
// no script, and nothing it would fetch.
func checkReportHTML(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	var svgs, rects int
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "link", "img", "iframe", "object", "embed":
				t.Errorf("the HTML report has a <%s>", n.Data)
			case "svg":
				svgs++
			case "rect":
				rects++
			}
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" || strings.Contains(a.Val, "url(") {
					t.Errorf("the HTML report refers out: <%s %s=%q>", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, bad := range []string{"http://", "https://", "@import", "url("} {
		if strings.Contains(string(data), bad) {
			t.Errorf("the HTML report contains %q", bad)
		}
	}
	if svgs != 3 || rects == 0 || !strings.Contains(string(data), "ws-carol") {
		t.Errorf("the HTML report has %d charts and %d bars, want 3 and some, and the hosts", svgs, rects)
	}
}
