package console_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// chromium returns the path of a Chromium binary, or skips the test when
// there is none (fails with USHER_REQUIRE_CHROMIUM=1).
func chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: apt-get install chromium to run the console's browser tests"
	if os.Getenv("USHER_REQUIRE_CHROMIUM") == "1" {
		tb.Fatal(msg + " (USHER_REQUIRE_CHROMIUM=1 makes this a failure)")
	}
	tb.Skip(msg)
	return ""
}

// browser is a headless Chromium tab, closed when the test ends, that
// records the page's uncaught exceptions and console errors (a script the
// Content-Security-Policy refuses shows there).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(tb testing.TB, width, height int) *browser {
	tb.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(tb)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(tb.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	tb.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			// A refused request logs an error too: the console asks
			// /v1/users to learn a credential's role.
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !strings.Contains(m.Text, "Failed to load resource") {
				b.record(m.Text)
			}
		}
	}()
	tb.Cleanup(func() { cancelTime(); <-done })
	return b
}

func (b *browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// run runs actions in the tab, failing the test with what failed.
func (b *browser) run(tb testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		tb.Fatalf("%s: %v (page errors: %v)", what, err, b.pageErrors())
	}
}

// within runs actions with a deadline d from now.
func (b *browser) within(tb testing.TB, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not within %v", d)
		}
		tb.Fatalf("%s: %v (page errors: %v)", what, err, b.pageErrors())
	}
}

func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// noPageErrors fails the test if the page threw or logged an error.
func (b *browser) noPageErrors(tb testing.TB) {
	tb.Helper()
	if errs := b.pageErrors(); len(errs) > 0 {
		tb.Errorf("page errors: got %q, want none", errs)
	}
}

// Selectors by the names users and screen readers see.
func navLink(name string) string { return fmt.Sprintf(`//nav//a[normalize-space()=%q]`, name) }
func labelled(label string) string {
	return fmt.Sprintf(`//label[span[normalize-space()=%q]]/*[self::input or self::select or self::textarea]`, label)
}
func button(name string) string { return fmt.Sprintf(`//button[normalize-space()=%q]`, name) }

// login logs in through the form with a user name and password.
func (b *browser) login(tb testing.TB, url, user, password string) {
	tb.Helper()
	b.run(tb, "log in as "+user,
		chromedp.Navigate(url+"/ui/"),
		chromedp.WaitVisible(labelled("User name")),
		chromedp.SendKeys(labelled("User name"), user),
		chromedp.SendKeys(labelled("Password"), password),
		chromedp.Click(button("Log in")),
		chromedp.WaitVisible(navLink("Dashboard")),
	)
}

// page opens a page from the navigation and waits for its heading.
func (b *browser) page(tb testing.TB, name string) {
	tb.Helper()
	b.run(tb, "open "+name,
		chromedp.Click(navLink(name)),
		chromedp.WaitVisible(fmt.Sprintf(`//main//h1[normalize-space()=%q]`, name)))
}

// server starts a server with seats of cad, an admin user "ada" and a
// monitor user "mo".
func server(tb testing.TB, seats int) *ushertest.Server {
	tb.Helper()
	s := ushertest.StartServer(tb, ushertest.ServerOptions{Seats: map[string]int{"cad": seats}})
	for _, u := range []wire.UserRequest{{Username: "ada", Password: "ada-password-1", Role: "admin"}, {Username: "mo", Password: "mo-password-1", Role: "monitor"}} {
		if _, err := s.Admin().AddUser(context.Background(), u); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func checkout(tb testing.TB, s *ushertest.Server, feature, user, host string) (wire.LeaseResponse, error) {
	tb.Helper()
	c := usher.Client{ID: host + "-" + user, User: user, Host: host, PID: 42}
	lease, _, err := s.Admin().Checkout(context.Background(), wire.CheckoutRequest{Feature: feature, Client: c})
	return lease, err
}

// value runs one action that reads a value.
func value[T any](tb testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	tb.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		tb.Fatalf("%s: %v (page errors: %v)", what, err, b.pageErrors())
	}
	return v
}
