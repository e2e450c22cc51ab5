package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// A license dropped on the licenses page is added like one picked.
func TestDropLicense(t *testing.T) {
	s := server(t, 1)
	text, _ := json.Marshal(string(s.Sign(usher.Grant{Feature: "viewer", Seats: 4})))
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "ada", "ada-password-1")
	b.page(t, "Licenses")
	drop := fmt.Sprintf(`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([%s], 'viewer.lic', {type: 'text/plain'}));
		document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`, text)
	b.run(t, "drop the license",
		chromedp.WaitVisible(chromedp.CSS(`#drop`)),
		chromedp.Evaluate[chromedp.Void](drop),
		chromedp.WaitVisible(`//article[@data-license]//td[normalize-space()="viewer"]`))
	feats, err := s.Admin().Features(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(feats) != 2 {
		t.Errorf("features after the drop: got %d, want 2 (cad and viewer)", len(feats))
	}
	b.noPageErrors(t)
}

// The policy editor's dry run lists the checkouts the policy would have
// refused; saving puts it in force.
func TestPolicyDryRunAndSave(t *testing.T) {
	s := server(t, 5)
	for _, host := range []string{"ws1", "ws2"} {
		if _, err := checkout(t, s, "cad", "alice", host); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "ada", "ada-password-1")
	b.page(t, "Settings")
	policy := "[feature.cad]\nmax = { \"user:*\" = 1 }\n"
	b.run(t, "check the policy",
		chromedp.WaitVisible(labelled("Policy (TOML, see docs/policies.md)")),
		chromedp.SetValue(labelled("Policy (TOML, see docs/policies.md)"), policy),
		chromedp.Click(button("Check (dry run)")),
		chromedp.WaitVisible(`//*[@id="policy-check"]//td[contains(., "user:*")]`))
	out := value(t, b, "read the dry run", chromedp.Text(chromedp.CSS(`#policy-check`)))
	// The dry run replays both the leases held and the recorded checkouts.
	if strings.Contains(out, ": 0 would be refused") || !strings.Contains(out, "ws2") || strings.Contains(out, "ws1") {
		t.Errorf("dry run: got %q, want alice's second checkout (from ws2) refused and the first not", out)
	}
	b.run(t, "save the policy",
		chromedp.Click(button("Save policy")),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(`//p[contains(., "In force from: api")]`))
	got, err := s.Admin().Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != wire.PolicySourceAPI {
		t.Errorf("policy source after saving: got %q, want %q", got.Source, wire.PolicySourceAPI)
	}
	b.noPageErrors(t)
}

// Dragging over a chart narrows the range it shows; Reset zoom widens it.
func TestUsageZoom(t *testing.T) {
	s := server(t, 1)
	if _, err := checkout(t, s, "cad", "alice", "ws1"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.login(t, s.URL(), "mo", "mo-password-1")
	b.page(t, "Usage")
	b.run(t, "wait for the chart", chromedp.WaitVisible(chromedp.CSS(`figure[data-feature="cad"] svg`)))
	box := value(t, b, "measure the chart", chromedp.Dimensions(chromedp.CSS(`figure[data-feature="cad"] svg`)))
	c := box.Content // x1,y1 … x4,y4 of the content quad
	left, right, y := c[0], c[2], (c[1]+c[5])/2
	before := value(t, b, "read the range", chromedp.Text(chromedp.CSS(`main .hint`)))
	b.run(t, "drag over the chart",
		chromedp.MouseEvent(chromedp.MousePressed, left+(right-left)*0.5, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, left+(right-left)*0.7, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, left+(right-left)*0.9, y, chromedp.ButtonLeft),
		chromedp.WaitVisible(button("Reset zoom")))
	// The hint names the new range once the zoomed data has arrived, which
	// may be after the button shows: poll until it changes.
	after := before
	for deadline := time.Now().Add(5 * time.Second); after == before && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		after = value(t, b, "read the zoomed range", chromedp.Text(chromedp.CSS(`main .hint`)))
	}
	if after == before {
		t.Fatalf("range after dragging: got %q, the same as before", after)
	}
	if strings.Contains(after, "15m0s") {
		t.Errorf("zoomed range: got %q, want steps narrower than a day's", after)
	}
	b.run(t, "reset the zoom", chromedp.Click(button("Reset zoom")), chromedp.WaitNotVisible(button("Reset zoom")))
	b.noPageErrors(t)
}

// A token revoked while the console uses it sends the user back to the
// login form.
func TestRevokedTokenLogsOut(t *testing.T) {
	s := server(t, 1)
	tok, err := s.Admin().CreateToken(context.Background(), "console", "monitor")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.run(t, "log in with an API token",
		chromedp.Navigate(s.URL()+"/ui/"),
		chromedp.WaitVisible(labelled("Token")),
		chromedp.SendKeys(labelled("Token"), tok.Token),
		chromedp.Click(button("Use token")),
		chromedp.WaitVisible(navLink("Sessions")))
	if _, err := s.Admin().RevokeToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	b.run(t, "see the login form again", chromedp.Click(navLink("Sessions")), chromedp.WaitVisible(labelled("User name")), chromedp.WaitNotVisible(navLink("Sessions")))
	stored := value(t, b, "read the stored token", chromedp.Evaluate[string](`sessionStorage.getItem('usher.token') || ''`))
	if stored != "" {
		t.Errorf("token kept after it was refused: got %q, want none", stored)
	}
}

// A client credential, which may only check out, is refused with a
// message that says what to use instead.
func TestClientTokenRefused(t *testing.T) {
	s := server(t, 1)
	tok, err := s.Admin().CreateToken(context.Background(), "app", "client")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1100, 800)
	b.run(t, "log in with a client token",
		chromedp.Navigate(s.URL()+"/ui/"),
		chromedp.WaitVisible(labelled("Token")),
		chromedp.SendKeys(labelled("Token"), tok.Token),
		chromedp.Click(button("Use token")),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "log in as a monitor or an admin")]`))
	if nav := value(t, b, "look for the navigation", chromedp.Evaluate[bool](`!document.getElementById('nav').hidden`)); nav {
		t.Error("navigation shown to a client credential; want the login form only")
	}
}
