package apiclient

import (
	"context"
	"net/http"

	"github.com/usher-lm/usher/internal/wire"
)

// ReleaseLicense gives a license up for good and returns the receipt the
// server signed (admin).
func (c *Client) ReleaseLicense(ctx context.Context, id string) (wire.ReleaseResponse, error) {
	var out wire.ReleaseResponse
	_, err := c.call(ctx, http.MethodPost, wire.ReleasePath(id), nil, &out)
	return out, err
}
