package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// Count makes Checkout take n seats at once, all or none (for a job that
// costs more than one seat). The line serves a waiting checkout only when
// all its seats are free.
func Count(n int) CheckoutOption {
	return func(c *checkoutConfig) { c.count = n }
}

// Version makes Checkout take a seat only of grants whose version is v or
// later (dotted numbers, compared numerically: "2026.2").
func Version(v string) CheckoutOption {
	return func(c *checkoutConfig) { c.version = v }
}

// Borrow makes Checkout borrow the seat for d: the lease needs no server
// until its BorrowedUntil. The server's signed token is kept in
// Options.BorrowDir, and a later Checkout with Borrow, in this process or
// another of the same user on this machine, gets the lease back from it,
// without a server if none answers. The grant must allow borrowing
// (usher.ErrBorrowNotAllowed otherwise).
func Borrow(d time.Duration) CheckoutOption {
	return func(c *checkoutConfig) { c.borrow = d }
}

// borrowRecord is a borrow token as kept on disk.
type borrowRecord struct {
	Token string `json:"token"`
	// LastSeen is the latest time the token was used here: a clock set
	// back before it is not trusted.
	LastSeen time.Time `json:"last_seen"`
}

// BorrowedUntil returns when a borrowed lease ends, or the zero time for a
// lease that is not borrowed.
func (l *Lease) BorrowedUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.borrowed
}

// Return gives a borrowed lease back to the server before its end, so the
// seat is free at once, and deletes its token. For a lease that is not
// borrowed it is Release.
//
// Errors: as Release; the token is kept when no server answered.
func (l *Lease) Return(ctx context.Context) error {
	if l.BorrowedUntil().IsZero() {
		return l.Release(ctx)
	}
	id := l.ID()
	if err := l.c.release(ctx, id, l.feature); err != nil && !errors.Is(err, usher.ErrLeaseNotFound) {
		return err
	}
	if path, err := l.c.borrowPath(l.feature); err == nil {
		_ = os.Remove(path)
	}
	_ = l.Release(ctx) // ends it here
	return nil
}

// checkoutBorrowed gets a borrowed lease: from its token file if that
// still holds, else from a server.
func (c *Client) checkoutBorrowed(ctx context.Context, feature string, cfg checkoutConfig) (*Lease, error) {
	l := &Lease{c: c, feature: feature, cfg: cfg, stopped: make(chan struct{}), done: make(chan struct{})}
	var hctx context.Context
	hctx, l.stop = context.WithCancel(c.ctx)
	if err := c.track(l); err != nil {
		l.stop()
		return nil, err
	}
	ctx, cancel := c.bind(ctx)
	defer cancel()
	claims, server, err := c.borrow(ctx, feature, cfg)
	if err != nil {
		l.stop()
		c.forget(l)
		return nil, err
	}
	l.mu.Lock()
	l.id, l.server, l.borrowed = claims.LeaseID, server, claims.BorrowedUntil
	l.mu.Unlock()
	if !l.start(hctx, l.runBorrowed) {
		return nil, ErrClosed
	}
	c.emit(Event{Type: EventCheckedOut, Feature: feature, LeaseID: claims.LeaseID, Server: server})
	return l, nil
}

// borrow returns the claims of a valid borrow of feature and the server
// that confirmed it ("" when none answered).
func (c *Client) borrow(ctx context.Context, feature string, cfg checkoutConfig) (usher.BorrowClaims, string, error) {
	path, err := c.borrowPath(feature)
	if err != nil {
		return usher.BorrowClaims{}, "", err
	}
	who := c.borrowIdentity()
	if claims, server, ok := c.resumeBorrow(ctx, path, who.ID); ok {
		return claims, server, nil
	}
	lr, server, _, err := c.checkout(ctx, feature, cfg, who, Event{Feature: feature})
	if err != nil {
		return usher.BorrowClaims{}, "", err
	}
	claims, err := usher.VerifyBorrowToken(lr.BorrowToken, nil, who.ID, time.Now(), time.Time{})
	if err == nil {
		err = writeBorrow(path, borrowRecord{Token: lr.BorrowToken, LastSeen: time.Now()})
	}
	if err != nil {
		_ = c.release(context.WithoutCancel(ctx), lr.ID, feature)
		return usher.BorrowClaims{}, "", fmt.Errorf("borrow feature %s: %w", feature, err)
	}
	return claims, server, nil
}

// resumeBorrow returns the borrow kept in path if its token still holds:
// it verifies offline, and no server that answers says it was returned or
// revoked. A token that does not hold is deleted.
func (c *Client) resumeBorrow(ctx context.Context, path, clientID string) (usher.BorrowClaims, string, bool) {
	rec, err := readBorrow(path)
	if err != nil {
		return usher.BorrowClaims{}, "", false
	}
	now := time.Now()
	claims, err := usher.VerifyBorrowToken(rec.Token, nil, clientID, now, rec.LastSeen)
	if err != nil {
		_ = os.Remove(path)
		return claims, "", false
	}
	server, revoked := c.confirmBorrow(ctx, claims.LeaseID)
	if revoked {
		_ = os.Remove(path)
		return claims, "", false
	}
	if now.After(rec.LastSeen) {
		rec.LastSeen = now
		_ = writeBorrow(path, rec)
	}
	return claims, server, true
}

// confirmBorrow asks each server once whether it still holds a borrowed
// lease. revoked is true when one answers that it does not; server is the
// one that confirmed it, "" when none answered.
func (c *Client) confirmBorrow(ctx context.Context, id string) (server string, revoked bool) {
	servers, err := c.endpoints(ctx, false)
	if err != nil {
		return "", false
	}
	for _, s := range servers {
		rctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
		err := c.do(rctx, http.MethodPost, s, wire.HeartbeatPath(id), nil, &wire.HeartbeatResponse{})
		cancel()
		switch {
		case err == nil, errors.Is(err, usher.ErrLeaseHeldElsewhere):
			return s, false
		case errors.Is(err, usher.ErrLeaseNotFound):
			return s, true
		}
	}
	return "", false
}

// runBorrowed ends a borrowed lease when its borrow ends.
func (l *Lease) runBorrowed(ctx context.Context) {
	defer l.c.wg.Done()
	defer close(l.stopped)
	t := time.NewTimer(time.Until(l.BorrowedUntil()))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		l.lose(usher.Errorf(usher.EFeatureExpired, "the borrow of feature %s ended at %s: check it out again while a server is reachable", l.feature, l.BorrowedUntil().Format(time.RFC3339)))
	}
}

// borrowIdentity is who borrows: the same for every process of this user
// on this machine, so that a restarted application finds its borrow.
func (c *Client) borrowIdentity() usher.Client {
	who := c.identity
	if c.opts.ClientID == "" {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00borrow", machineID(who.Host), who.User))
		who.ID = "b_" + hex.EncodeToString(sum[:12])
	}
	return who
}

func (c *Client) borrowPath(feature string) (string, error) {
	if err := usher.ValidateFeatureName(feature); err != nil {
		return "", err
	}
	dir := c.opts.BorrowDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", usher.Errorf(usher.EInvalid, "no directory for borrow tokens (%v): set Options.BorrowDir", err)
		}
		dir = filepath.Join(base, "usher", "borrowed")
	}
	return filepath.Join(dir, feature+".json"), nil
}

func readBorrow(path string) (borrowRecord, error) {
	var rec borrowRecord
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(data, &rec)
}

// writeBorrow replaces the token file, readable by the user only.
func writeBorrow(path string, rec borrowRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keep the borrow token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("keep the borrow token: %w", err)
	}
	return os.Rename(tmp, path)
}
