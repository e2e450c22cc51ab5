package wire

import (
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
)

// Paths of the webhooks' endpoints.
const PathWebhooks = "/v1/webhooks"

// WebhookPath is the path of one webhook: DELETE removes it.
func WebhookPath(id string) string { return PathWebhooks + "/" + url.PathEscape(id) }

// DeliveriesPath is the path of a webhook's delivery log.
func DeliveriesPath(id string) string { return WebhookPath(id) + "/deliveries" }

// RedeliverPath is the path that sends a delivery again.
func RedeliverPath(id string) string {
	return PathWebhooks + "/deliveries/" + url.PathEscape(id) + "/redeliver"
}

// Webhook is a webhook as the API shows it: never its secret, only
// whether it has one; the interval as a duration like "5m".
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Mode      string    `json:"mode"`
	Interval  string    `json:"interval,omitempty"`
	Source    string    `json:"source"`
	HasSecret bool      `json:"has_secret"`
	Created   time.Time `json:"created,omitzero"`
}

// WebhookOf shows w, leaving its secret out.
func WebhookOf(w usher.Webhook) Webhook {
	out := Webhook{ID: w.ID, URL: w.URL, Events: append([]string{}, w.Events...), Mode: w.Mode, Source: w.Source,
		HasSecret: w.HasSecret || w.Secret != "", Created: w.Created}
	if w.Interval > 0 {
		out.Interval = w.Interval.String()
	}
	return out
}

// WebhookRequest is the body of POST /v1/webhooks.
type WebhookRequest struct {
	URL      string   `json:"url"`
	Events   []string `json:"events,omitempty"`
	Secret   string   `json:"secret,omitempty"`
	Mode     string   `json:"mode,omitempty"`
	Interval string   `json:"interval,omitempty"`
}

// Webhook returns the webhook asked for. Errors: EInvalid for an interval
// that is not a duration.
func (r WebhookRequest) Webhook() (usher.Webhook, error) {
	w := usher.Webhook{URL: r.URL, Events: r.Events, Secret: r.Secret, Mode: r.Mode}
	if r.Interval != "" {
		d, err := time.ParseDuration(r.Interval)
		if err != nil {
			return w, usher.Errorf(usher.EInvalid, "webhook interval %q is not a duration: give one like 30s or 5m", r.Interval)
		}
		w.Interval = d
	}
	return w, nil
}

// WebhooksResponse is the body of GET /v1/webhooks.
type WebhooksResponse struct {
	Webhooks []Webhook `json:"webhooks"`
}

// DeliveriesResponse is the body of GET /v1/webhooks/{id}/deliveries.
type DeliveriesResponse struct {
	Deliveries []usher.Delivery `json:"deliveries"`
}
