package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// maxResponse bounds a response body the SDK reads.
const maxResponse = 1 << 20

// do sends one request to a server and decodes a JSON answer into out. An
// error answer becomes an *usher.Error with the server's code; a server
// that cannot be reached, or answers without an Usher error, becomes
// EUnavailable.
func (c *Client) do(ctx context.Context, method, server, path string, in, out any) error {
	req := Request{Method: method, Path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body = b
	}
	resp, err := c.send(ctx, server, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "read the answer of %s: %v", server, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return usher.Errorf(usher.EUnavailable, "%s sent an answer the SDK cannot read: %v; check that it is an Usher server", server, err)
		}
	}
	return nil
}

// send sends one request to a server and returns the answer when its
// status is below 400; the caller closes its body. An error answer becomes
// an *usher.Error with the server's code (wire.DecodeError); a server that
// cannot be reached becomes EUnavailable.
func (c *Client) send(ctx context.Context, server string, r Request) (*http.Response, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cmp.Or(r.Method, http.MethodGet), server+r.Path, body)
	if err != nil {
		return nil, err
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", cmp.Or(r.ContentType, "application/json"))
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if c.opts.Token != "" && !r.Anonymous {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil && certificateError(err) {
		return nil, untrustedError{usher.Errorf(usher.EUnavailable, "the server at %s answered with a certificate this client does not trust (%v): if it is your server, pin the fingerprint it logs at start with --tls-fingerprint or %s (Options.TLSFingerprint in the SDK); see docs/security.md \"TLS\"", server, unwrapURLError(err), EnvTLSFingerprint)}
	}
	if err != nil {
		return nil, usher.Errorf(usher.EUnavailable, "cannot reach the Usher server at %s: %v", server, unwrapURLError(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return nil, wire.DecodeError(server, resp.Status, data)
	}
	return resp, nil
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
	attempt  time.Duration // bound on one request; 0: the request bounds itself
	event    Event         // template for the events the call reports
	// once asks each server once, moving to the next only while a server
	// is unavailable (Do).
	once bool
}

// next reports whether the call tries the next server after err.
func (r retry) next(err error) bool {
	if r.once {
		return usher.ErrorCode(err) == usher.EUnavailable
	}
	return transient(err)
}

// Backoff between rounds of attempts over every server.
const (
	backoffBase = 100 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// call runs op against the server in use, failing over to the next ones
// while the errors are transient, and retries rounds over all of them with
// backoff and jitter until one answers, ctx ends or the deadline passes;
// with r.once it makes one round only. A server that answers, even with an
// error, becomes the one in use.
func (c *Client) call(ctx context.Context, r retry, op func(ctx context.Context, server string) error) error {
	var last error
	failed := false
	for round := 0; ; round++ {
		servers, err := c.endpoints(ctx, round > 0)
		var roundErrs []error
		for _, s := range servers {
			err = c.attempt(ctx, r, s, op)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil || !r.next(err) {
				c.answered(r.event, s, failed)
				return err
			}
			failed = true
			roundErrs = append(roundErrs, err)
			c.emit(r.event.with(EventUnreachable, s, err))
			if !time.Now().Before(r.deadline) {
				break
			}
		}
		if len(roundErrs) > 0 {
			last = joinServerErrors(roundErrs)
		} else if err != nil {
			last = err
		}
		if r.once {
			return noServerAnswered(last, servers)
		}
		c.listen() // see discover.go
		if err := c.sleep(ctx, backoff(round), r.deadline); err != nil {
			return err
		}
		if !time.Now().Before(r.deadline) {
			if untrusted(last) {
				return last
			}
			return usher.Errorf(usher.EUnavailable, "no Usher server answered: %v; check that the server runs and that %s or Options.Servers names it", last, EnvServer)
		}
	}
}

func (c *Client) attempt(ctx context.Context, r retry, server string, op func(context.Context, string) error) error {
	if r.attempt == 0 {
		return op(ctx, server)
	}
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
	if changed && c.lan != nil {
		c.lan.remember(server)
	}
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

// sleep waits d, cut short at the deadline or when a server announces its
// start; it returns ctx's error if ctx ends first.
func (c *Client) sleep(ctx context.Context, d time.Duration, deadline time.Time) error {
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
	case <-c.woken():
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
