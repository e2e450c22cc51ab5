package console_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/usher-lm/usher/internal/console"
	"github.com/usher-lm/usher/internal/ushertest"
)

// Every node of a cluster serves the console itself, and a node that does
// not decide shows the cluster's members on its dashboard.
func TestEveryClusterNodeServesTheConsole(t *testing.T) {
	c := ushertest.StartCluster(t, 2)
	decider := c.MustDecider()
	for i := range 2 {
		res, err := http.Get(c.URL(i) + "/ui/app.js")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") != console.ContentSecurityPolicy {
			t.Errorf("node %d: GET /ui/app.js: got %d with policy %q, want 200 with the console's", i, res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
	}
	follower := (decider + 1) % 2
	b := newBrowser(t, 1100, 800)
	b.run(t, "log in to a follower with its admin token",
		chromedp.Navigate(c.URL(follower)+"/ui/"),
		chromedp.WaitVisible(labelled("Token")),
		chromedp.SendKeys(labelled("Token"), ushertest.Token(t, c.Daemon(follower))),
		chromedp.Click(button("Use token")),
		chromedp.WaitVisible(`//caption[normalize-space()="Cluster members"]`))
	rows := value(t, b, "count the members", chromedp.Evaluate[int](`document.querySelectorAll('main table tbody tr').length`))
	if rows != 2 {
		t.Errorf("cluster members shown: got %d, want 2", rows)
	}
	deciding := value(t, b, "read the deciding node", chromedp.Text(`//dt[normalize-space()="Deciding node"]/following-sibling::dd[1]`))
	if want := c.Configs[decider].NodeNameOrHost(); deciding != want {
		t.Errorf("deciding node: got %q, want %q", deciding, want)
	}
}
