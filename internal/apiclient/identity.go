package apiclient

import (
	"context"
	"net/http"

	"github.com/usher-lm/usher/internal/wire"
)

// Identity returns the identity of the server (GET /v1/server, no
// credential needed).
func (c *Client) Identity(ctx context.Context) (wire.ServerIdentity, error) {
	var out wire.ServerIdentity
	_, err := c.call(ctx, http.MethodGet, wire.PathServer, nil, &out)
	return out, err
}

// LicenseList lists the loaded licenses and the stored ones refused at
// start, with why (monitor).
func (c *Client) LicenseList(ctx context.Context) (wire.LicensesResponse, error) {
	var out wire.LicensesResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathLicenses, nil, &out)
	return out, err
}
