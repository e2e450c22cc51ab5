// Package apiclient is the typed client of the whole Usher HTTP API, in
// the types of internal/wire. The usher CLI, the benchmarks and the tests
// use it. It is built on the SDK's Client.Do, so every call fails over
// across the servers of its list as the SDK's own calls do: a server that
// cannot be reached or answers unavailable is skipped for the next one;
// any other error answer is returned at once.
package apiclient

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

// Config configures a Client.
type Config struct {
	// Servers to ask, in order of preference: URLs or host:port.
	Servers []string
	// Token is sent as a bearer token with every request but a login.
	Token string
	// TokenSource, if set, says where Token came from; a refused token's
	// error names it, so that a stale one is easy to find.
	TokenSource string
	// NoTokenHint, if set, is added to the error of a request the server
	// refuses for want of a credential when Token is empty: it says how to
	// give one.
	NoTokenHint string
	// TLSFingerprint, if set, pins the SHA-256 fingerprint of the servers'
	// certificate. It is ignored when HTTPClient is set.
	TLSFingerprint string
	// HTTPClient sends the requests; default one on http.DefaultTransport,
	// or with a transport of its own when TLSFingerprint is set.
	HTTPClient *http.Client
	// RequestTimeout bounds one request; default
	// client.DefaultRequestTimeout. A stream is bounded only until its
	// answer starts.
	RequestTimeout time.Duration
}

// Client calls the HTTP API. It is safe for concurrent use.
type Client struct {
	cfg         Config
	sdk         *client.Client
	hasToken    bool
	tokenSource string
	noTokenHint string
	timeout     time.Duration // of one request
}

// New returns a client for the servers of cfg. Errors: EInvalid when no
// server is given or one is not an address.
func New(cfg Config) (*Client, error) {
	hc := cfg.HTTPClient
	if hc == nil && cfg.TLSFingerprint == "" {
		hc = &http.Client{} // the default transport, whose connections outlive one client
	}
	sdk, err := client.New(client.Options{
		Servers:        cfg.Servers,
		Getenv:         func(string) string { return "" }, // the caller reads the environment
		Token:          cfg.Token,
		TLSFingerprint: cfg.TLSFingerprint,
		HTTPClient:     hc,
		RequestTimeout: cfg.RequestTimeout,
	})
	if err != nil {
		return nil, err
	}
	timeout := cmp.Or(cfg.RequestTimeout, client.DefaultRequestTimeout)
	return &Client{cfg: cfg, sdk: sdk, hasToken: cfg.Token != "", tokenSource: cfg.TokenSource, noTokenHint: cfg.NoTokenHint, timeout: timeout}, nil
}

// MustNew returns a client for one server whose address is known to be
// well formed, such as a test server's URL. It panics on a malformed one.
func MustNew(server, token string) *Client {
	c, err := New(Config{Servers: []string{server}, Token: token})
	if err != nil {
		panic(err)
	}
	return c
}

// WithToken returns a client for the same servers that sends token
// instead of c's (no credential when it is "").
func (c *Client) WithToken(token string) *Client {
	cfg := c.cfg
	cfg.Token, cfg.TokenSource = token, ""
	nc, err := New(cfg)
	if err != nil {
		panic(err) // cfg made c
	}
	return nc
}

// Server returns the server that answered last, or "" before any did.
func (c *Client) Server() string { return c.sdk.Server() }

// Close closes the client's idle connections.
func (c *Client) Close() error { return c.sdk.Close() }

// send runs one request, naming the token's source when a server refuses
// the token.
func (c *Client) send(ctx context.Context, req client.Request) (*http.Response, error) {
	resp, err := c.sdk.Do(ctx, req)
	if usher.ErrorCode(err) != usher.EUnauthorized || req.Anonymous {
		return resp, err
	}
	note := ""
	switch {
	case c.hasToken && c.tokenSource != "":
		note = "the token sent came from " + c.tokenSource
	case !c.hasToken && c.noTokenHint != "":
		note = c.noTokenHint
	}
	if ue, ok := err.(*usher.Error); ok && note != "" {
		err = &usher.Error{Code: ue.Code, Message: ue.Message + " (" + note + ")"}
	}
	return resp, err
}

// call sends in as JSON (when not nil) and decodes a JSON answer into out
// (when not nil). It returns the answer's status.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (int, error) {
	return c.callFor(ctx, 0, method, path, in, out)
}

// callFor is call with a timeout other than the client's (when not 0).
func (c *Client) callFor(ctx context.Context, timeout time.Duration, method, path string, in, out any) (int, error) {
	req := client.Request{Method: method, Path: path, Timeout: timeout}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		req.Body = b
	}
	return c.read(ctx, req, out)
}

// read sends req and decodes a JSON answer into out (when not nil).
func (c *Client) read(ctx context.Context, req client.Request, out any) (int, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read the answer to %s: %w", req.Path, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode the answer to %s: %w", req.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// Checkout takes a seat. created is false when the client already held one.
// A checkout that waits in line has its wait on top of the request
// timeout.
func (c *Client) Checkout(ctx context.Context, req wire.CheckoutRequest) (lease wire.LeaseResponse, created bool, err error) {
	var timeout time.Duration
	if wait, err := time.ParseDuration(req.Wait); err == nil && wait > 0 {
		timeout = wait + c.timeout
	}
	status, err := c.callFor(ctx, timeout, http.MethodPost, wire.PathLeases, req, &lease)
	return lease, status == http.StatusCreated, err
}

// Heartbeat renews a lease.
func (c *Client) Heartbeat(ctx context.Context, id string) (wire.HeartbeatResponse, error) {
	var out wire.HeartbeatResponse
	_, err := c.call(ctx, http.MethodPost, wire.HeartbeatPath(id), nil, &out)
	return out, err
}

// Release gives a lease back; with an admin credential it kicks the lease.
func (c *Client) Release(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, wire.LeasePath(id), nil, nil)
	return err
}

// Features returns the status of every feature.
func (c *Client) Features(ctx context.Context) ([]usher.FeatureStatus, error) {
	var out wire.FeaturesResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathFeatures, nil, &out)
	return out.Features, err
}

// Leases returns every live lease (monitor).
func (c *Client) Leases(ctx context.Context) ([]usher.Lease, error) {
	var out wire.LeasesResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathLeases, nil, &out)
	return out.Leases, err
}

// Queue returns the checkouts waiting in line (monitor).
func (c *Client) Queue(ctx context.Context) ([]usher.Waiter, error) {
	var out wire.QueueResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathQueue, nil, &out)
	return out.Waiters, err
}

// AddLicense loads a signed license file (admin).
func (c *Client) AddLicense(ctx context.Context, text []byte) (wire.LicenseResponse, error) {
	var out wire.LicenseResponse
	_, err := c.read(ctx, client.Request{Method: http.MethodPost, Path: wire.PathLicenses, Body: text, ContentType: "text/plain"}, &out)
	return out, err
}

// Licenses lists the loaded licenses (monitor).
func (c *Client) Licenses(ctx context.Context) ([]wire.LicenseResponse, error) {
	var out wire.LicensesResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathLicenses, nil, &out)
	return out.Licenses, err
}

// RemoveLicense unloads a license (admin).
func (c *Client) RemoveLicense(ctx context.Context, id string) (wire.LicenseResponse, error) {
	var out wire.LicenseResponse
	_, err := c.call(ctx, http.MethodDelete, wire.LicensePath(id), nil, &out)
	return out, err
}

// Health reports whether a server answers /healthz.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodGet, wire.PathHealth, nil, nil)
	return err
}
