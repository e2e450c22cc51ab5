package apiclient

import (
	"context"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

// Consume spends units of a metered feature (use).
func (c *Client) Consume(ctx context.Context, req wire.ConsumeRequest) (wire.ConsumeResponse, error) {
	var out wire.ConsumeResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathConsumptions, req, &out)
	return out, err
}

// Consumptions reports the units each client spent of each metered
// feature in its current period (monitor).
func (c *Client) Consumptions(ctx context.Context) ([]usher.ClientConsumption, error) {
	var out wire.ConsumptionsResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathConsumptions, nil, &out)
	return out.Consumptions, err
}

// Renew loads a signed renewal file (admin).
func (c *Client) Renew(ctx context.Context, text []byte) (wire.RenewalResponse, error) {
	var out wire.RenewalResponse
	_, err := c.read(ctx, client.Request{Method: http.MethodPost, Path: wire.PathRenewals, Body: text, ContentType: "text/plain"}, &out)
	return out, err
}
