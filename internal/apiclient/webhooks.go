package apiclient

import (
	"context"
	"net/http"
	"strconv"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// Webhooks returns every webhook (monitor).
func (c *Client) Webhooks(ctx context.Context) ([]wire.Webhook, error) {
	var out wire.WebhooksResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathWebhooks, nil, &out)
	return out.Webhooks, err
}

// AddWebhook adds a webhook (admin).
func (c *Client) AddWebhook(ctx context.Context, req wire.WebhookRequest) (wire.Webhook, error) {
	var out wire.Webhook
	_, err := c.call(ctx, http.MethodPost, wire.PathWebhooks, req, &out)
	return out, err
}

// RemoveWebhook removes a webhook added over the API (admin).
func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, wire.WebhookPath(id), nil, nil)
	return err
}

// WebhookLog returns a webhook's deliveries, the latest first (monitor).
func (c *Client) WebhookLog(ctx context.Context, id string, limit int) ([]usher.Delivery, error) {
	var out wire.DeliveriesResponse
	_, err := c.call(ctx, http.MethodGet, wire.DeliveriesPath(id)+"?limit="+strconv.Itoa(limit), nil, &out)
	return out.Deliveries, err
}

// Redeliver sends a delivery again (admin).
func (c *Client) Redeliver(ctx context.Context, id string) (usher.Delivery, error) {
	var out usher.Delivery
	_, err := c.call(ctx, http.MethodPost, wire.RedeliverPath(id), nil, &out)
	return out, err
}
