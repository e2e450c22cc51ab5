package client

import (
	"context"
	"crypto/rand"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// ConsumeOption configures one Consume call.
type ConsumeOption func(*wire.ConsumeRequest)

// ConsumeID sets the idempotency id of a consumption: the server counts a
// consumption with an id it already counted only once (for as long as the
// period it was counted in and the one after it last). Use an id of the
// work being paid for, such as a job id, so that a retry after a crash is
// not counted twice. Without it, Consume makes up an id, so that its own
// retries are counted once.
func ConsumeID(id string) ConsumeOption {
	return func(r *wire.ConsumeRequest) { r.ID = id }
}

// Consume spends amount units of a metered feature and returns the
// feature's counter after it. It retries on other servers while none
// answers, up to Options.RetryTimeout; the id makes every retry count
// once.
//
// Errors carry the server's codes: usher.ErrConsumptionExhausted when the
// period's units (overage included) do not cover amount, and nothing was
// counted; ErrFeatureNotFound (also for a feature that is not metered),
// ErrFeatureNotStarted, ErrFeatureExpired, ErrInvalid, ErrUnavailable when
// no server answered; and ErrClosed after Close.
func (c *Client) Consume(ctx context.Context, feature string, amount int64, opts ...ConsumeOption) (usher.ConsumeResult, error) {
	body := wire.ConsumeRequest{Feature: feature, Amount: amount, Client: c.identity, ID: "sdk-" + rand.Text()}
	for _, o := range opts {
		o(&body)
	}
	ctx, cancel := c.bind(ctx)
	defer cancel()
	var out wire.ConsumeResponse
	r := retry{deadline: time.Now().Add(c.opts.RetryTimeout), attempt: c.opts.RequestTimeout, event: Event{Feature: feature}}
	err := c.call(ctx, r, func(ctx context.Context, s string) error {
		return c.do(ctx, http.MethodPost, s, wire.PathConsumptions, body, &out)
	})
	if err != nil && c.ctx.Err() != nil {
		return usher.ConsumeResult{}, ErrClosed
	}
	return out, err
}
