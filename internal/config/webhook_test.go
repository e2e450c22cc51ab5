package config_test

import (
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/config"
)

func TestWebhookEntries(t *testing.T) {
	c := config.Default()
	err := c.LoadFile(writeFile(t, `data = "d"
vendor_key = ["v.pub"]
webhook_dead_letter_after = "24h"

[[webhook]]
url = "https://hooks.example.com/usher"
events = ["lease_*", "checkout_denied"]
secret = "s3cret"

[[webhook]]
url = "http://127.0.0.1:9000/"
mode = "batch"
interval = "5m"
`))
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := c.ConfigWebhooks()
	if err != nil || c.Validate() != nil {
		t.Fatalf("webhooks: %v, %v", err, c.Validate())
	}
	if len(hooks) != 2 || hooks[0].Mode != usher.WebhookAll || hooks[0].Secret != "s3cret" || len(hooks[0].Events) != 2 ||
		hooks[1].Interval != 5*time.Minute || hooks[1].Source != usher.WebhookFromConfig || hooks[1].ID != usher.ConfigWebhookID("http://127.0.0.1:9000/") {
		t.Fatalf("got %+v", hooks)
	}
	if time.Duration(c.WebhookDeadLetterAfter) != 24*time.Hour || time.Duration(c.WebhookMaxBackoff) != config.DefaultWebhookMaxBackoff {
		t.Errorf("dead letter %v, max backoff %v", c.WebhookDeadLetterAfter, c.WebhookMaxBackoff)
	}
}

func TestBadWebhookEntries(t *testing.T) {
	for _, tc := range []struct{ entry, want string }{
		{`url = "ftp://x"`, "webhook[0]: webhook url"},
		{`url = "http://x/"` + "\nmode = \"sometimes\"", "webhook mode \"sometimes\""},
		{`url = "http://x/"` + "\nmode = \"batch\"", "needs an interval"},
		{`url = "http://x/"` + "\nevents = [\"leese_*\"]", "matches no event type"},
		{`url = "http://x/"` + "\n[[webhook]]\nurl = \"http://x/\"", "two [[webhook]] entries"},
	} {
		c := config.Default()
		c.Data, c.VendorKey = "d", config.List{"v.pub"}
		if err := c.LoadFile(writeFile(t, "[[webhook]]\n"+tc.entry+"\n")); err != nil {
			t.Fatalf("%s: %v", tc.entry, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.entry, err, tc.want)
		}
	}
}
