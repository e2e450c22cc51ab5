package client

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
)

// Request is one request of the HTTP API for Client.Do: the endpoints the
// SDK has no method for, such as administration and monitoring (see
// docs/api.md).
type Request struct {
	// Method is the HTTP method; default GET.
	Method string
	// Path is the path and query, such as "/v1/admin/info".
	Path string
	// Body is sent as it is, as ContentType (default application/json).
	// It is a byte slice so that it can be sent again to another server.
	Body        []byte
	ContentType string
	// Header holds more header fields to send, such as Accept or
	// Last-Event-ID.
	Header http.Header
	// Anonymous sends no credential, as for a login.
	Anonymous bool
	// Timeout, if set, bounds this request instead of
	// Options.RequestTimeout: a checkout that waits in line needs its wait
	// on top.
	Timeout time.Duration
	// Stream is for an answer read as it comes, such as an event stream:
	// the timeout then bounds only the wait for the answer's header, not
	// the reading of its body.
	Stream bool
}

// Do sends req to the server in use and returns the first answer with a
// status below 400; the caller must close its Body. While a server cannot
// be reached, does not answer in time (Options.RequestTimeout) or answers
// unavailable (503), Do tries the next one, each server once, starting
// with the one that answered last. Unlike Checkout it does not retry
// rounds with backoff: the caller, often a person at a terminal, gets an
// answer or an error at once.
//
// Any other error answer is returned without asking another server, as an
// *usher.Error with the server's code. Errors: the server's codes;
// usher.ErrUnavailable when no server answered; ErrClosed after Close.
func (c *Client) Do(ctx context.Context, req Request) (*http.Response, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var resp *http.Response
	r := retry{deadline: time.Now().Add(c.opts.RetryTimeout), once: true}
	err := c.call(ctx, r, func(ctx context.Context, server string) error {
		var err error
		resp, err = c.sendBounded(ctx, server, req)
		return err
	})
	if err != nil && resp != nil { // ctx ended as the answer came
		resp.Body.Close()
		resp = nil
	}
	return resp, err
}

// errNoAnswer is the cause of a request cut off by Options.RequestTimeout.
var errNoAnswer = errors.New("no answer in time")

// sendBounded is send under the request's timeout, which runs until the
// answer's body is closed or, for a stream, until its header arrives.
func (c *Client) sendBounded(ctx context.Context, server string, req Request) (*http.Response, error) {
	timeout := cmp.Or(req.Timeout, c.opts.RequestTimeout)
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(timeout, func() { cancel(errNoAnswer) })
	stop := func() { timer.Stop(); cancel(nil) }
	resp, err := c.send(ctx, server, req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errNoAnswer) {
			err = usher.Errorf(usher.EUnavailable, "the Usher server at %s did not answer within %v", server, timeout)
		}
		stop()
		return nil, err
	}
	if req.Stream {
		timer.Stop()
	}
	resp.Body = &stopOnClose{ReadCloser: resp.Body, stop: stop}
	return resp, nil
}

// stopOnClose releases a request's context when its answer is closed.
type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (b *stopOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// noServerAnswered is Do's error when every server failed.
func noServerAnswered(last error, servers []string) error {
	if untrusted(last) {
		return last
	}
	return usher.Errorf(usher.EUnavailable, "no Usher server answered: %v; check that the server runs and that the server list (%s) names it", last, strings.Join(servers, ", "))
}
