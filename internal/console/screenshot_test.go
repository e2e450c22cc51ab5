package console_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	usher "github.com/usher-lm/usher"
)

var update = flag.Bool("update", false, "regenerate the screenshots in docs/console")

// screenshotDir is where docs/console.md finds the screenshots.
var screenshotDir = filepath.Join("..", "..", "docs", "console")

// TestScreenshots takes a screenshot of every page of a server with some
// seats in use, into docs/console. Run it with
//
//	go test ./internal/console -run Screenshots -update
func TestScreenshots(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the screenshots")
	}
	s := server(t, 5)
	exp := time.Now().Add(20 * 24 * time.Hour).UTC().Truncate(time.Hour)
	if _, err := s.Admin().AddLicense(context.Background(), s.Sign(usher.Grant{Feature: "solver", Seats: 2, ExpiresAt: exp})); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][3]string{{"cad", "alice", "ws42"}, {"cad", "bob", "ws17"}, {"cad", "carol", "lab-3"}, {"solver", "alice", "ws42"}, {"solver", "dave", "hpc-1"}, {"solver", "erin", "hpc-2"}} {
		checkout(t, s, c[0], c[1], c[2]) // the last is denied: no seat left
	}
	b := newBrowser(t, 1100, 760)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.run(t, "open the login form", chromedp.Navigate(s.URL()+"/ui/"), chromedp.WaitVisible(labelled("User name")))
	b.save(t, "login.png")
	b.login(t, s.URL(), "ada", "ada-password-1")
	shots := []struct{ page, file, wait string }{
		{"Dashboard", "dashboard.png", `//article[@data-feature="solver"]`},
		{"Sessions", "sessions.png", `//tr[@data-lease]`},
		{"Events", "events.png", `//li[@data-type]`},
		{"Usage", "usage.png", `//figure[@data-feature="cad"]`},
		{"Licenses", "licenses.png", `//article[@data-license]`},
		{"Settings", "settings.png", `//caption[normalize-space()="Users"]`},
	}
	for _, sh := range shots {
		b.page(t, sh.page)
		if sh.page == "Usage" {
			b.run(t, "show the last hour", chromedp.WaitVisible(sh.wait), chromedp.Evaluate[chromedp.Void](
				`(s => { s.value = '3600000'; s.dispatchEvent(new Event('change')); })(document.querySelector('select[name=range]'))`))
		}
		b.run(t, "wait for "+sh.page, chromedp.WaitVisible(sh.wait), chromedp.Sleep(300*time.Millisecond))
		b.save(t, sh.file)
	}
	b.run(t, "dark phone", chromedp.EmulateViewport(390, 760), dark(), chromedp.Sleep(300*time.Millisecond))
	b.page(t, "Sessions")
	b.run(t, "wait for sessions", chromedp.WaitVisible(`//tr[@data-lease]`))
	b.save(t, "sessions-phone-dark.png")
}

// dark makes the page prefer the dark colour scheme.
func dark() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	})
}

func (b *browser) save(tb testing.TB, file string) {
	tb.Helper()
	png := value(tb, b, "screenshot "+file, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(screenshotDir, file), png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%s: %d bytes", file, len(png))
}
