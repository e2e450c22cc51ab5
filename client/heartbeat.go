package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// run heartbeats the lease until it is released, the client closes, or
// the seat is lost.
func (l *Lease) run(ctx context.Context) {
	defer l.c.wg.Done()
	defer close(l.stopped)
	for {
		t := time.NewTimer(l.nextBeat())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := l.beat(ctx); err != nil {
			if ctx.Err() == nil {
				l.lose(err)
			}
			return
		}
	}
}

func (l *Lease) nextBeat() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.interval
}

// beat renews the lease. Transient failures are retried, on the next
// server if there are several, until the lease would expire; a lease the
// server no longer holds is checked out again. It returns an error only
// when the seat is lost.
func (l *Lease) beat(ctx context.Context) error {
	l.mu.Lock()
	id, interval := l.id, l.interval
	deadline := l.contact.Add(l.keepalive)
	l.mu.Unlock()
	r := retry{deadline: deadline, attempt: min(l.c.opts.RequestTimeout, interval), event: Event{Feature: l.feature, LeaseID: id}}
	err := l.c.call(ctx, r, func(ctx context.Context, s string) error {
		sent := time.Now()
		var hb wire.HeartbeatResponse
		var body any
		nonce := l.c.verify.newNonce()
		if nonce != "" {
			body = wire.HeartbeatRequest{Nonce: nonce}
		}
		if err := l.c.do(ctx, http.MethodPost, s, wire.HeartbeatPath(id), body, &hb); err != nil {
			return err
		}
		if err := l.c.check(ctx, hb.LeaseProof, expect{server: s, leaseID: id, feature: l.feature, clientID: l.c.identity.ID, nonce: nonce}); err != nil {
			return err
		}
		l.renewed(s, sent)
		return nil
	})
	switch {
	case err == nil || ctx.Err() != nil:
		return err
	case errors.Is(err, usher.ErrLeaseNotFound):
		return l.reacquire(ctx, err)
	case errors.Is(err, usher.ErrUnavailable):
		return fmt.Errorf("lease %s expired before a server confirmed it, so its seat may go to someone else: %w", id, err)
	}
	return err
}

func (l *Lease) renewed(server string, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.server, l.contact = server, sent
}

// reacquire checks the feature out again after the server lost the lease:
// it was reclaimed or kicked, or the client failed over to a server that
// never held it. It does not wait in line: if no seat is free, the seat is
// lost.
func (l *Lease) reacquire(ctx context.Context, cause error) error {
	old := l.ID()
	l.c.emit(Event{Type: EventLeaseGone, Feature: l.feature, LeaseID: old, Err: cause})
	cfg := l.cfg
	cfg.wait = 0
	lr, server, sent, err := l.c.checkout(ctx, l.feature, cfg, l.c.identity, Event{Feature: l.feature, LeaseID: old})
	if err != nil {
		l.c.dropUnverified(ctx, server, lr.ID, err)
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("the server ended lease %s (reclaimed or kicked), and checking out again failed: %w", old, err)
	}
	l.update(lr, server, sent)
	l.c.emit(Event{Type: EventReacquired, Feature: l.feature, LeaseID: lr.ID, Server: server})
	return nil
}

// lose ends a lease whose seat is gone, unless it was released meanwhile.
func (l *Lease) lose(err error) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	l.mu.Unlock()
	// Report before Done closes, so that whoever sees Done has the event.
	l.c.emit(Event{Type: EventLost, Feature: l.feature, LeaseID: l.ID(), Err: err})
	l.end(err)
}
