package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// CheckoutOption changes how Checkout asks for a seat.
type CheckoutOption func(*checkoutConfig)

type checkoutConfig struct {
	wait    time.Duration
	count   int
	version string
	borrow  time.Duration
}

// Wait makes Checkout wait in line for up to d when no seat is free,
// instead of failing at once with usher.ErrNoSeats. Waiters are served
// first come, first served; the server allows at most usher.MaxWait.
func Wait(d time.Duration) CheckoutOption {
	return func(c *checkoutConfig) { c.wait = d }
}

// Lease is a seat held by a Client. It heartbeats on its own at the
// interval the server asks for, and recovers from what can be recovered
// (see the package documentation). Done is closed, and Err tells why, only
// when the seat is definitively lost or given back.
type Lease struct {
	c       *Client
	feature string
	stop    context.CancelFunc // stops the heartbeat goroutine
	stopped chan struct{}      // closed when the heartbeat goroutine returns
	done    chan struct{}

	cfg checkoutConfig // what it was checked out with: a re-checkout asks the same

	mu        sync.Mutex
	borrowed  time.Time // borrowed_until, for a borrowed lease; it needs no heartbeat
	id        string
	server    string
	interval  time.Duration // between heartbeats, as the server asks
	keepalive time.Duration // the server forgets the lease after this long without a heartbeat
	contact   time.Time     // when the last request that renewed the lease was sent
	running   bool          // the heartbeat goroutine was started
	ended     bool
	err       error
}

// Checkout checks out one seat of feature and keeps it alive until Release
// or Close. A retried request never takes a second seat: the server knows
// this client's identity and returns the lease it already holds. Transient
// failures are retried, on the next server if there are several, for up
// to Options.RetryTimeout (plus the wait).
//
// Errors carry the server's codes: usher.ErrNoSeats, ErrFeatureNotFound,
// ErrFeatureNotStarted, ErrFeatureExpired, ErrUnavailable when no server
// answered, ErrInvalid when this client already holds the feature; and
// ErrClosed after Close.
func (c *Client) Checkout(ctx context.Context, feature string, opts ...CheckoutOption) (*Lease, error) {
	var cfg checkoutConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.borrow > 0 {
		return c.checkoutBorrowed(ctx, feature, cfg) // borrow.go
	}
	l := &Lease{c: c, feature: feature, cfg: cfg, stopped: make(chan struct{}), done: make(chan struct{})}
	var hctx context.Context
	hctx, l.stop = context.WithCancel(c.ctx)
	if err := c.track(l); err != nil {
		l.stop()
		return nil, err
	}
	ctx, cancel := c.bind(ctx)
	defer cancel()
	lr, server, sent, err := c.checkout(ctx, feature, cfg, c.identity, Event{Feature: feature})
	if err != nil {
		c.dropUnverified(ctx, server, lr.ID, err)
		l.stop()
		c.forget(l)
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	l.update(lr, server, sent)
	if !l.start(hctx, l.run) {
		// Close came first and could not know this lease: give it back.
		_ = c.release(context.WithoutCancel(ctx), lr.ID, feature)
		c.http.CloseIdleConnections()
		return nil, ErrClosed
	}
	c.emit(Event{Type: EventCheckedOut, Feature: feature, LeaseID: lr.ID, Server: server})
	return l, nil
}

// bind returns ctx, also cancelled when the client closes.
func (c *Client) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// checkout asks the servers for a seat for who, with what remains of the
// wait on each try. sent is when the successful request was sent.
func (c *Client) checkout(ctx context.Context, feature string, cfg checkoutConfig, who usher.Client, ev Event) (lr wire.LeaseResponse, server string, sent time.Time, err error) {
	start, wait := time.Now(), cfg.wait
	r := retry{deadline: start.Add(wait + c.opts.RetryTimeout), attempt: wait + c.opts.RequestTimeout, event: ev}
	err = c.call(ctx, r, func(ctx context.Context, s string) error {
		body := wire.CheckoutRequest{Feature: feature, Client: who, Count: cfg.count, Version: cfg.version, Nonce: c.verify.newNonce()}
		body.Client.Secret = c.opts.LicenseeSecret
		if cfg.borrow > 0 {
			body.Borrow = cfg.borrow.String()
		}
		if left := wait - time.Since(start); left > 0 {
			body.Wait = formatWait(left)
		}
		server, sent = s, time.Now()
		lr = wire.LeaseResponse{}
		if err := c.do(ctx, http.MethodPost, s, wire.PathLeases, body, &lr); err != nil {
			return err
		}
		return c.check(ctx, lr.LeaseProof, expect{server: s, leaseID: lr.ID, feature: feature, clientID: c.identity.ID, nonce: body.Nonce})
	})
	return lr, server, sent, err
}

// start runs the lease's goroutine (run heartbeats; a borrowed lease's
// waits for the end of the borrow), unless the client closed meanwhile.
func (l *Lease) start(ctx context.Context, run func(context.Context)) bool {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	l.mu.Lock()
	l.running = true
	l.mu.Unlock()
	c.wg.Add(1)
	go run(ctx)
	return true
}

// update takes in a lease the server granted or returned.
func (l *Lease) update(lr wire.LeaseResponse, server string, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id, l.server, l.contact = lr.ID, server, sent
	l.keepalive = lr.ExpiresAt.Sub(lr.LastHeartbeat)
	if l.keepalive <= 0 {
		l.keepalive = usher.DefaultKeepaliveTimeout
	}
	l.interval, _ = time.ParseDuration(lr.HeartbeatInterval)
	if l.interval <= 0 || l.interval >= l.keepalive {
		l.interval = l.keepalive / 3
	}
}

// ID returns the lease ID. It changes when the client checks the seat out
// again after the server lost the lease.
func (l *Lease) ID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// Feature returns the feature the lease is a seat of.
func (l *Lease) Feature() string { return l.feature }

// Server returns the server that last confirmed the lease.
func (l *Lease) Server() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.server
}

// Done returns a channel that is closed when the seat is definitively lost
// or was released. Transient trouble that the client recovers from does
// not close it.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held; after Done is closed, why it
// ended: ErrReleased, or an error that matches the server's code with
// errors.Is (usher.ErrNoSeats when the seat was reclaimed or kicked and no
// seat was free to check out again, usher.ErrUnavailable when no server
// answered before the lease expired, usher.ErrFeatureExpired, ...).
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Release gives the seat back and stops heartbeating. Releasing a lease
// that already ended returns nil. If the server no longer had the lease
// (an administrator kicked it, or it expired), Release returns an error
// that matches usher.ErrLeaseNotFound: there was no seat to give back. If
// no server answers, the lease is still ended here and the server
// reclaims the seat after its keep-alive timeout. A borrowed lease stays
// borrowed: Release ends its use in this process only, and the next
// Checkout with Borrow gets it back from the token file; Return gives it
// back.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return nil
	}
	l.ended = true
	running, borrowed := l.running, !l.borrowed.IsZero()
	l.mu.Unlock()
	l.stop()
	if running {
		<-l.stopped
	}
	id := l.ID()
	if id == "" || borrowed { // still checking out, which gives it back; or kept on disk (see Return)
		l.end(ErrReleased)
		return nil
	}
	err := l.c.release(ctx, id, l.feature)
	l.end(ErrReleased)
	if err == nil {
		l.c.emit(Event{Type: EventReleased, Feature: l.feature, LeaseID: id})
	}
	return err
}

func (c *Client) release(ctx context.Context, id, feature string) error {
	r := retry{deadline: time.Now().Add(c.opts.RetryTimeout), attempt: c.opts.RequestTimeout, event: Event{Feature: feature, LeaseID: id}}
	err := c.call(ctx, r, func(ctx context.Context, s string) error {
		return c.do(ctx, http.MethodDelete, s, wire.LeasePath(id), nil, nil)
	})
	if errors.Is(err, usher.ErrLeaseNotFound) {
		return usher.Errorf(usher.ELeaseNotFound, "release lease %s of feature %s: the server no longer had it (an administrator kicked it, or it expired): there was no seat to give back", id, feature)
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("release lease %s of feature %s: %w (the server reclaims it after its keep-alive timeout)", id, feature, err)
}

// end records why the lease ended, forgets it and closes Done: whoever
// sees Done may check the feature out again at once.
func (l *Lease) end(err error) {
	l.mu.Lock()
	l.ended, l.err = true, err
	l.mu.Unlock()
	l.c.forget(l)
	close(l.done)
}
