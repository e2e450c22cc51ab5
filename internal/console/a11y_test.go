package console_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// unlabelled lists the controls on the page without an accessible name:
// neither inside a label, nor named by aria-label, nor a button with text.
const unlabelled = `[...document.querySelectorAll('input, select, textarea, button')]
	.filter(el => !el.closest('[hidden]') && !el.closest('dialog:not([open])'))
	.filter(el => !(el.closest('label') || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
	.map(el => el.outerHTML.slice(0, 80))`

// Logging in works with the keyboard alone, and every control of every
// page has a name.
func TestKeyboardAndLabels(t *testing.T) {
	s := server(t, 2)
	if _, err := checkout(t, s, "cad", "alice", "ws1"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.run(t, "log in with the keyboard",
		chromedp.Navigate(s.URL()+"/ui/"),
		chromedp.WaitVisible(labelled("User name")),
		chromedp.KeyEvent("ada"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("ada-password-1"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(navLink("Dashboard")))
	for _, page := range []string{"Dashboard", "Sessions", "Events", "Usage", "Licenses", "Settings"} {
		b.page(t, page)
		if page == "Sessions" {
			b.run(t, "wait for the lease", chromedp.WaitVisible(`//tr[@data-lease]`))
		}
		if page == "Settings" {
			b.run(t, "wait for the users", chromedp.WaitVisible(`//caption[normalize-space()="Users"]`))
		}
		if bad := value(t, b, "find unlabelled controls on "+page, chromedp.Evaluate[[]string](unlabelled)); len(bad) > 0 {
			t.Errorf("%s: controls without a name: %q", page, bad)
		}
	}
	b.noPageErrors(t)
}

// An admin changes a runtime setting and adds a user from the settings
// page.
func TestSettingsAndUsers(t *testing.T) {
	s := server(t, 1)
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "ada", "ada-password-1")
	b.page(t, "Settings")
	b.run(t, "set keepalive_timeout",
		chromedp.WaitVisible(chromedp.CSS(`input[name="keepalive_timeout"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="keepalive_timeout"]`), "5m"),
		chromedp.Click(chromedp.CSS(`button[aria-label="Save keepalive_timeout"]`)),
		chromedp.WaitVisible(`//tr[td[normalize-space()="keepalive_timeout"]]/td[starts-with(normalize-space(), "runtime")]`))
	settings, err := s.Admin().Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range settings {
		if st.Key == "keepalive_timeout" && st.Value != "5m0s" {
			t.Errorf("keepalive_timeout: got %q, want 5m", st.Value)
		}
	}
	b.run(t, "add a user",
		chromedp.SendKeys(labelled("New user name"), "vic"),
		chromedp.SendKeys(labelled("New user password"), "vic-password-1"),
		chromedp.Click(button("Add user")),
		chromedp.WaitVisible(`//tr[td[normalize-space()="vic"]]`))
	users, err := s.Admin().Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range users {
		found = found || u.Name == "vic" && u.Role == "monitor"
	}
	if !found {
		t.Errorf("users: got %+v, want vic with role monitor", users)
	}
	b.noPageErrors(t)
}
