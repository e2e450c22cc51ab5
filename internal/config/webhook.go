package config

import (
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// WebhookEntry is a [[webhook]] table of the configuration file: an
// endpoint that receives the server's events (see docs/webhooks.md).
type WebhookEntry struct {
	URL      string   `toml:"url"`
	Events   []string `toml:"events"`
	Secret   string   `toml:"secret"`
	Mode     string   `toml:"mode"`
	Interval Duration `toml:"interval"`
}

// Defaults of the webhooks' keys.
const (
	DefaultWebhookMaxBackoff      = time.Hour
	DefaultWebhookDeadLetterAfter = 72 * time.Hour
)

// ConfigWebhooks returns the [[webhook]] entries as webhooks, each with
// the ID its URL gives it.
func (c *Config) ConfigWebhooks() ([]usher.Webhook, error) {
	out := make([]usher.Webhook, 0, len(c.Webhooks))
	seen := make(map[string]bool)
	for i, e := range c.Webhooks {
		w := usher.Webhook{ID: usher.ConfigWebhookID(e.URL), URL: e.URL, Events: e.Events, Secret: e.Secret,
			Mode: e.Mode, Interval: time.Duration(e.Interval), Source: usher.WebhookFromConfig}
		if err := w.Validate(eventlog.Types()); err != nil {
			return nil, fmt.Errorf("webhook[%d]: %s", i, usher.ErrorMessage(err))
		}
		if seen[e.URL] {
			return nil, fmt.Errorf("webhook[%d]: url %s is in two [[webhook]] entries: merge their events into one", i, e.URL)
		}
		seen[e.URL] = true
		out = append(out, w)
	}
	return out, nil
}

func (c *Config) validateWebhooks() error {
	_, err := c.ConfigWebhooks()
	return err
}
