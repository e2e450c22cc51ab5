package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	usher "github.com/usher-lm/usher"
)

// A checkout made through the API shows on the sessions page within a
// second; the Kick button, once confirmed, ends it and the row goes.
func TestSessionsShowCheckoutAndKick(t *testing.T) {
	s := server(t, 3)
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "ada", "ada-password-1")
	b.page(t, "Sessions")

	lease, err := checkout(t, s, "cad", "alice", "ws42")
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`//tr[@data-lease=%q]`, lease.ID)
	start := time.Now()
	b.within(t, time.Second, "see the new lease on the sessions page", chromedp.WaitVisible(row))
	t.Logf("lease shown after %v", time.Since(start))
	text := value(t, b, "read the row", chromedp.Text(row))
	for _, want := range []string{"cad", "alice", "ws42"} {
		if !contains(text, want) {
			t.Errorf("row text: got %q, want it to name %q", text, want)
		}
	}

	b.run(t, "kick the lease",
		chromedp.Click(row+button("Kick")),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitNotPresent(row))
	leases, err := s.Admin().Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 0 {
		t.Errorf("leases after the kick: got %d, want 0", len(leases))
	}
	b.noPageErrors(t)
}

// Cancelling the confirmation keeps the lease; kicking every lease of a
// host ends all of them.
func TestKickAllOfHost(t *testing.T) {
	s := server(t, 3)
	var ids []string
	for _, u := range []string{"alice", "bob"} {
		l, err := checkout(t, s, "cad", u, "ws7")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "ada", "ada-password-1")
	b.page(t, "Sessions")
	first := fmt.Sprintf(`//tr[@data-lease=%q]`, ids[0])
	b.run(t, "cancel a kick",
		chromedp.WaitVisible(first),
		chromedp.Click(first+button("Kick")),
		chromedp.WaitVisible(button("Cancel")),
		chromedp.Click(button("Cancel")),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)))
	if leases, _ := s.Admin().Leases(context.Background()); len(leases) != 2 {
		t.Fatalf("leases after a cancelled kick: got %d, want 2", len(leases))
	}
	b.run(t, "kick all of host ws7",
		chromedp.SetValue(labelled("Kick all of"), "host"),
		chromedp.SendKeys(labelled("Name"), "ws7"),
		chromedp.Click(button("Kick all")),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitNotPresent(`//tr[@data-lease]`))
	if leases, _ := s.Admin().Leases(context.Background()); len(leases) != 0 {
		t.Errorf("leases after kicking host ws7: got %d, want 0", len(leases))
	}
}

// A monitor sees the sessions but no Kick button, and no users or tokens.
func TestMonitorSeesNoKick(t *testing.T) {
	s := server(t, 3)
	lease, err := checkout(t, s, "cad", "alice", "ws42")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "mo", "mo-password-1")
	b.page(t, "Sessions")
	b.run(t, "wait for the lease", chromedp.WaitVisible(fmt.Sprintf(`//tr[@data-lease=%q]`, lease.ID)))
	kicks := value(t, b, "count Kick buttons",
		chromedp.Evaluate[int](`[...document.querySelectorAll('button')].filter(b => b.textContent.trim().startsWith('Kick')).length`))
	if kicks != 0 {
		t.Errorf("Kick buttons a monitor sees: got %d, want 0", kicks)
	}
	b.page(t, "Settings")
	b.run(t, "wait for the settings", chromedp.WaitVisible(`//caption[normalize-space()="Runtime settings"]`))
	adminOnly := value(t, b, "look for admin forms",
		chromedp.Evaluate[int](`document.querySelectorAll('#h-users, #h-tokens, input[type=file]').length`))
	if adminOnly != 0 {
		t.Errorf("admin sections a monitor sees: got %d, want 0", adminOnly)
	}
	b.noPageErrors(t)
}

// Logged in with the admin token, an admin uploads a license with the file
// picker and sees its features, on the licenses page and the dashboard.
func TestUploadLicense(t *testing.T) {
	s := server(t, 1)
	exp := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	text := s.Sign(usher.Grant{Feature: "solver", Seats: 7, ExpiresAt: exp})
	file := filepath.Join(t.TempDir(), "acme.lic")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.run(t, "log in with the admin token",
		chromedp.Navigate(s.URL()+"/ui/"),
		chromedp.WaitVisible(labelled("Token")),
		chromedp.SendKeys(labelled("Token"), s.Token),
		chromedp.Click(button("Use token")),
		chromedp.WaitVisible(navLink("Licenses")))
	b.page(t, "Licenses")
	b.run(t, "upload the license",
		chromedp.SetUploadFiles(labelled("License file"), []string{file}),
		chromedp.WaitVisible(`//article[@data-license]//td[normalize-space()="solver"]`))
	grants := value(t, b, "read the grants", chromedp.Text(`//article[.//td[normalize-space()="solver"]]//table`))
	if !contains(grants, "7") || !contains(grants, exp.Format("2006-01-02")) {
		t.Errorf("grants shown: got %q, want 7 seats expiring %s", grants, exp.Format("2006-01-02"))
	}
	b.page(t, "Dashboard")
	b.run(t, "see the feature on the dashboard", chromedp.WaitVisible(`//article[@data-feature="solver"]`))
	warning := value(t, b, "read the warnings", chromedp.Text(chromedp.CSS(`.warnings`)))
	if !contains(warning, "solver expires in") {
		t.Errorf("dashboard warnings: got %q, want solver's expiry", warning)
	}
	b.noPageErrors(t)
}

// The usage chart holds the peak and the denials of the checkouts made.
func TestUsageChartPoints(t *testing.T) {
	s := server(t, 1)
	if _, err := checkout(t, s, "cad", "alice", "ws1"); err != nil {
		t.Fatal(err)
	}
	if _, err := checkout(t, s, "cad", "bob", "ws2"); err == nil {
		t.Fatal("a second checkout of one seat was granted; want it denied")
	}
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "mo", "mo-password-1")
	b.page(t, "Usage")
	b.run(t, "wait for the chart of cad", chromedp.WaitVisible(chromedp.CSS(`figure[data-feature="cad"]`)))
	raw := value(t, b, "read the chart of cad", chromedp.AttributeValue(chromedp.CSS(`figure[data-feature="cad"]`), "data-points")).Value
	var points []struct {
		Time    time.Time `json:"time"`
		Peak    int       `json:"peak"`
		Denials int       `json:"denials"`
	}
	if err := json.Unmarshal([]byte(raw), &points); err != nil {
		t.Fatalf("data-points %q: %v", raw, err)
	}
	peak, denials := 0, 0
	for _, p := range points {
		peak = max(peak, p.Peak)
		denials += p.Denials
	}
	if peak != 1 || denials != 1 {
		t.Errorf("chart of cad: got peak %d and %d denials, want 1 and 1 (points %+v)", peak, denials, points)
	}
	totals := value(t, b, "read the totals by user", chromedp.Text(chromedp.CSS(`#totals`)))
	if !contains(totals, "alice") || !contains(totals, "bob") {
		t.Errorf("totals by user: got %q, want alice and bob", totals)
	}
	b.run(t, "export CSV", chromedp.Evaluate[chromedp.Void](
		`(orig => { URL.createObjectURL = (blob) => { blob.text().then((t) => { window.exported = t; }); return orig.call(URL, blob); }; })(URL.createObjectURL)`),
		chromedp.Click(button("Export CSV")))
	csv := value(t, b, "read the CSV", chromedp.Poll[string](`window.exported`, chromedp.WithPollingTimeout(5*time.Second)))
	for _, want := range []string{"feature,time,peak,checkouts,denials\n", "\ncad,", "\nbob,0,1,0,"} {
		if !contains(csv, want) {
			t.Errorf("CSV: got %q, want it to hold %q", csv, want)
		}
	}
	b.noPageErrors(t)
}

// The events page shows a new event as it happens.
func TestEventsFeed(t *testing.T) {
	s := server(t, 2)
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "mo", "mo-password-1")
	b.page(t, "Events")
	lease, err := checkout(t, s, "cad", "carol", "ws9")
	if err != nil {
		t.Fatal(err)
	}
	item := fmt.Sprintf(`//li[@data-type="lease_granted"][contains(., %q)]`, lease.ID)
	b.within(t, 5*time.Second, "see lease_granted in the feed", chromedp.WaitVisible(item))
	b.run(t, "hide lease events",
		chromedp.Click(chromedp.CSS(`input[name="type-leases"]`)),
		chromedp.WaitNotVisible(item))
	b.noPageErrors(t)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
