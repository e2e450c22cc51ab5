package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	usher "github.com/usher-lm/usher"
)

// Client calls the HTTP API. The CLI is built on it.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7420
	Token   string // admin token, sent as a bearer token when set
	HTTP    *http.Client
	// TokenSource, if set, says where Token came from; a refused token's
	// error names it, so that a stale one is easy to find.
	TokenSource string
}

// NewClient returns a client for the server at base, which may omit the
// scheme ("127.0.0.1:7420").
func NewClient(base, token string) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{BaseURL: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{}}
}

// do sends a request and decodes a JSON response into out. An error
// response becomes an *usher.Error with the server's code and message.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, usher.Errorf(usher.EUnavailable, "cannot reach the Usher server at %s: %v; check --server or USHER_SERVER", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 400 {
		err := decodeError(resp.StatusCode, data)
		if resp.StatusCode == http.StatusUnauthorized && c.Token != "" && c.TokenSource != "" {
			if ue, ok := err.(*usher.Error); ok {
				ue.Message += " (the token sent came from " + c.TokenSource + ")"
			}
		}
		return resp.StatusCode, err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode response from %s: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

func decodeError(status int, data []byte) error {
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil || e.Code == "" {
		return usher.Errorf(usher.EInternal, "server answered %d: %s", status, strings.TrimSpace(string(data)))
	}
	return &usher.Error{Code: e.Code, Message: e.Message}
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, method, path, body, "application/json", out)
}

// Checkout takes a seat. created is false when the client already held one.
func (c *Client) Checkout(ctx context.Context, req CheckoutRequest) (lease LeaseResponse, created bool, err error) {
	status, err := c.doJSON(ctx, http.MethodPost, "/v1/leases", req, &lease)
	return lease, status == http.StatusCreated, err
}

// Heartbeat renews a lease.
func (c *Client) Heartbeat(ctx context.Context, id string) (HeartbeatResponse, error) {
	var out HeartbeatResponse
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/heartbeat", nil, &out)
	return out, err
}

// Release gives a lease back; with the admin token it kicks the lease.
func (c *Client) Release(ctx context.Context, id string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, "/v1/leases/"+url.PathEscape(id), nil, nil)
	return err
}

// Features returns the status of every feature.
func (c *Client) Features(ctx context.Context) ([]usher.FeatureStatus, error) {
	var out struct{ Features []usher.FeatureStatus }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/features", nil, &out)
	return out.Features, err
}

// Leases returns every live lease (admin).
func (c *Client) Leases(ctx context.Context) ([]usher.Lease, error) {
	var out struct{ Leases []usher.Lease }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/leases", nil, &out)
	return out.Leases, err
}

// Queue returns the checkouts waiting in line (admin).
func (c *Client) Queue(ctx context.Context) ([]usher.Waiter, error) {
	var out struct{ Waiters []usher.Waiter }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/queue", nil, &out)
	return out.Waiters, err
}

// AddLicense loads a signed license file (admin).
func (c *Client) AddLicense(ctx context.Context, text []byte) (LicenseResponse, error) {
	var out LicenseResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/licenses", bytes.NewReader(text), "text/plain", &out)
	return out, err
}

// Licenses lists the loaded licenses (admin).
func (c *Client) Licenses(ctx context.Context) ([]LicenseResponse, error) {
	var out struct{ Licenses []LicenseResponse }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/licenses", nil, &out)
	return out.Licenses, err
}

// RemoveLicense unloads a license (admin).
func (c *Client) RemoveLicense(ctx context.Context, id string) (LicenseResponse, error) {
	var out LicenseResponse
	_, err := c.doJSON(ctx, http.MethodDelete, "/v1/licenses/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Health reports whether the server answers /healthz.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.doJSON(ctx, http.MethodGet, "/healthz", nil, nil)
	return err
}
