package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
)

// The HTTP API v1 shapes the SDK uses, as docs/api.md describes them.
type (
	checkoutRequest struct {
		Feature string       `json:"feature"`
		Client  usher.Client `json:"client"`
		Wait    string       `json:"wait,omitempty"`
	}
	leaseResponse struct {
		usher.Lease
		HeartbeatInterval string `json:"heartbeat_interval"`
	}
	heartbeatResponse struct {
		ID        string    `json:"id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	errorResponse struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Status  int    `json:"status"`
	}
)

// maxResponse bounds a response body the SDK reads.
const maxResponse = 1 << 20

// do sends one request to a server and decodes a JSON answer into out. An
// error answer becomes an *usher.Error with the server's code; a server
// that cannot be reached, or answers without an Usher error, becomes
// EUnavailable.
func (c *Client) do(ctx context.Context, method, server, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, server+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "cannot reach the Usher server at %s: %v", server, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "read the answer of %s: %v", server, err)
	}
	if resp.StatusCode >= 400 {
		var e errorResponse
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return usher.Errorf(usher.EUnavailable, "%s answered %s without an Usher error: check that it is an Usher server", server, resp.Status)
		}
		return &usher.Error{Code: e.Code, Message: e.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return usher.Errorf(usher.EUnavailable, "%s sent an answer the SDK cannot read: %v; check that it is an Usher server", server, err)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// transient reports whether a failed request may succeed if tried again,
// here or on another server. A rate-limited request is tried again after
// the backoff; a refused credential (unauthorized, forbidden) is not.
func transient(err error) bool {
	switch usher.ErrorCode(err) {
	case usher.EUnavailable, usher.EInternal, usher.ERateLimited:
		return true
	}
	return false
}

// retry bounds one call.
type retry struct {
	deadline time.Time     // give up after this
	attempt  time.Duration // bound on one request
	event    Event         // template for the events the call reports
}

// Backoff between rounds of attempts over every server.
const (
	backoffBase = 100 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// call runs op against the server in use, failing over to the next ones
// while the errors are transient, and retries rounds over all of them with
// backoff and jitter until one answers, ctx ends or the deadline passes. A
// server that answers, even with an error, becomes the one in use.
func (c *Client) call(ctx context.Context, r retry, op func(ctx context.Context, server string) error) error {
	var last error
	failed := false
	for round := 0; ; round++ {
		servers, err := c.endpoints(ctx, round > 0)
		for _, s := range servers {
			err = c.attempt(ctx, r, s, op)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil || !transient(err) {
				c.answered(r.event, s, failed)
				return err
			}
			failed = true
			c.emit(r.event.with(EventUnreachable, s, err))
			if !time.Now().Before(r.deadline) {
				break
			}
		}
		if err != nil {
			last = err
		}
		if err := sleep(ctx, backoff(round), r.deadline); err != nil {
			return err
		}
		if !time.Now().Before(r.deadline) {
			return usher.Errorf(usher.EUnavailable, "no Usher server answered: %v; check that the server runs and that %s or Options.Servers names it", last, EnvServer)
		}
	}
}

func (c *Client) attempt(ctx context.Context, r retry, server string, op func(context.Context, string) error) error {
	d := min(r.attempt, time.Until(r.deadline))
	if d <= 0 {
		return usher.Errorf(usher.EUnavailable, "no time left to ask %s", server)
	}
	actx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return op(actx, server)
}

// answered records that server answered and reports a failover or a
// recovery after failures.
func (c *Client) answered(ev Event, server string, failed bool) {
	changed := c.settle(server)
	switch {
	case failed && changed:
		c.emit(ev.with(EventFailover, server, nil))
	case failed:
		c.emit(ev.with(EventReconnected, server, nil))
	}
}

// backoff returns the pause after a failed round, with jitter so that many
// clients do not retry in step.
func backoff(round int) time.Duration {
	d := backoffMax
	if round < 8 {
		d = min(backoffBase<<round, backoffMax)
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d, cut short at the deadline; it returns ctx's error if ctx
// ends first.
func sleep(ctx context.Context, d time.Duration, deadline time.Time) error {
	d = min(d, time.Until(deadline))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// formatWait writes a wait the way the server parses it.
func formatWait(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

func leasePath(id string) string { return "/v1/leases/" + url.PathEscape(id) }
