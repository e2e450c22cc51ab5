package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/ushertest"
)

// heldChecks is a password check that counts the checks running at once
// and holds each until release is closed.
type heldChecks struct {
	running, most, done atomic.Int32
	release             chan struct{}
}

func (h *heldChecks) check(hash, password string) (bool, error) {
	n := h.running.Add(1)
	for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
	}
	<-h.release
	h.running.Add(-1)
	h.done.Add(1)
	return password == "correct horse", nil
}

func TestLoginsHashAtMostMaxHashesAtOnce(t *testing.T) {
	const maxHashes, attempts, wait = 2, 30, 50 * time.Millisecond
	a := MustOpen(t, t.TempDir(), auth.Config{MaxHashes: maxHashes, HashWait: wait, HashRate: -1})
	h := &heldChecks{release: make(chan struct{})}
	auth.SetCheck(a, h.check)
	var refused, wrong atomic.Int32
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			start := time.Now()
			_, _, err := a.Login(context.Background(), fmt.Sprintf("user%d", i), "guess", fmt.Sprintf("10.0.0.%d", i))
			switch usher.ErrorCode(err) {
			case usher.EUnavailable:
				if after, ok := auth.RetryAfter(err); !ok || after <= 0 {
					t.Errorf("busy refusal %v: Retry-After %v, %v", err, after, ok)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("busy refusal took %v, want it after the %v wait", d, wait)
				}
				refused.Add(1)
			case usher.EUnauthorized:
				wrong.Add(1)
			default:
				t.Errorf("login %d: %v", i, err)
			}
		})
	}
	// Two hash; the others wait for them in vain, and are refused.
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		if got, want := refused.Load(), int32(attempts-maxHashes); got != want {
			return fmt.Errorf("%d logins refused, want %d", got, want)
		}
		if got := h.running.Load(); got != maxHashes {
			return fmt.Errorf("%d checks running, want %d", got, maxHashes)
		}
		return nil
	})
	close(h.release)
	wg.Wait()
	if got := h.most.Load(); got > maxHashes {
		t.Errorf("%d checks ran at once, want at most %d", got, maxHashes)
	}
	if got := wrong.Load(); got != maxHashes || h.done.Load() != maxHashes {
		t.Errorf("%d logins checked (%d checks), want %d", got, h.done.Load(), maxHashes)
	}
}

func TestLoginRefusedAtOnceWhenBusyAndNotWaiting(t *testing.T) {
	a := MustOpen(t, t.TempDir(), auth.Config{MaxHashes: 1, HashWait: -1, HashRate: -1})
	h := &heldChecks{release: make(chan struct{})}
	auth.SetCheck(a, h.check)
	done := make(chan error, 1)
	go func() {
		_, _, err := a.Login(context.Background(), "ann", "guess", "10.0.0.1")
		done <- err
	}()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		if h.running.Load() != 1 {
			return errors.New("the first check has not started")
		}
		return nil
	})
	_, _, err := a.Login(context.Background(), "bob", "guess", "10.0.0.2")
	wantCode(t, err, usher.EUnavailable)
	close(h.release)
	wantCode(t, <-done, usher.EUnauthorized)
}

// loginClock opens an Authority with a user ann whose password is
// "correct horse", a stopped clock and checks that cost nothing.
func loginClock(t *testing.T) (*auth.Authority, *ushertest.Clock, *atomic.Int32) {
	clk := ushertest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	a := MustOpen(t, t.TempDir(), auth.Config{Now: clk.Now, RefusalDelay: -1, HashRate: -1})
	if _, err := a.AddUser(context.Background(), "ann", "correct horse", auth.RoleMonitor); err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int32
	auth.SetCheck(a, func(hash, password string) (bool, error) {
		checks.Add(1)
		return auth.CheckPassword(hash, password)
	})
	return a, clk, &checks
}

func wantBackoff(t *testing.T, err error, want time.Duration) {
	t.Helper()
	wantCode(t, err, usher.ERateLimited)
	if got, _ := auth.RetryAfter(err); got != want {
		t.Fatalf("Retry-After %v, want %v", got, want)
	}
}

func TestLoginBackoffPerAddress(t *testing.T) {
	ctx := context.Background()
	a, clk, checks := loginClock(t)
	auth.SetCheck(a, func(hash, password string) (bool, error) { checks.Add(1); return password == "correct horse", nil })
	for i := range auth.LoginFreeFailuresPerAddress {
		_, _, err := a.Login(ctx, fmt.Sprintf("nobody%d", i), "guess", "10.0.0.1")
		wantCode(t, err, usher.EUnauthorized)
	}
	// The next failure starts the back-off: 1s, then 2s, 4s...
	_, _, err := a.Login(ctx, "nobody", "guess", "10.0.0.1")
	wantCode(t, err, usher.EUnauthorized)
	before := checks.Load()
	_, _, err = a.Login(ctx, "ann", "correct horse", "10.0.0.1")
	wantBackoff(t, err, auth.LoginBackoffMin)
	if checks.Load() != before {
		t.Errorf("a backed-off login checked a password")
	}
	if _, _, err := a.Login(ctx, "ann", "correct horse", "10.0.0.2"); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
	clk.Advance(auth.LoginBackoffMin)
	_, _, err = a.Login(ctx, "nobody", "guess", "10.0.0.1")
	wantCode(t, err, usher.EUnauthorized)
	_, _, err = a.Login(ctx, "nobody", "guess", "10.0.0.1")
	wantBackoff(t, err, 2*auth.LoginBackoffMin)
	for range 20 { // the delay doubles up to its bound
		clk.Advance(auth.LoginBackoffMaxPerAddress)
		a.Login(ctx, "nobody", "guess", "10.0.0.1")
	}
	_, _, err = a.Login(ctx, "nobody", "guess", "10.0.0.1")
	wantBackoff(t, err, auth.LoginBackoffMaxPerAddress)
	clk.Advance(auth.LoginBackoffMaxPerAddress)
	if _, _, err := a.Login(ctx, "ann", "correct horse", "10.0.0.1"); err != nil {
		t.Fatalf("login once the back-off ended: %v", err)
	}
	if _, _, err := a.Login(ctx, "nobody", "guess", "10.0.0.1"); usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("a success forgets the failures: got %v, want unauthorized", err)
	}
}

func TestLoginBackoffPerUser(t *testing.T) {
	ctx := context.Background()
	a, clk, _ := loginClock(t)
	auth.SetCheck(a, func(hash, password string) (bool, error) { return password == "correct horse", nil })
	for i := range auth.LoginFreeFailuresPerUser + 1 { // from as many addresses
		_, _, err := a.Login(ctx, "ann", "guess", fmt.Sprintf("10.0.1.%d", i))
		wantCode(t, err, usher.EUnauthorized)
	}
	_, _, err := a.Login(ctx, "ann", "correct horse", "10.0.2.1")
	wantBackoff(t, err, auth.LoginBackoffMin)
	if _, _, err := a.Login(ctx, "bob", "guess", "10.0.2.1"); usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("another name from that address: got %v, want unauthorized", err)
	}
	clk.Advance(auth.LoginForgetAfter)
	if _, _, err := a.Login(ctx, "ann", "correct horse", "10.0.2.1"); err != nil {
		t.Fatalf("login once the back-off ended: %v", err)
	}
}

func TestLoginBackoffMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	a, clk, _ := loginClock(t)
	auth.SetCheck(a, func(hash, password string) (bool, error) { return false, nil })
	for i := range auth.LoginTracked + 100 {
		a.Login(ctx, fmt.Sprintf("u%d", i), "guess", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if addrs, users := auth.Tracked(a); addrs > auth.LoginTracked || users > auth.LoginTracked {
		t.Fatalf("tracking %d addresses and %d users, want at most %d each", addrs, users, auth.LoginTracked)
	}
	clk.Advance(auth.LoginForgetAfter)
	a.Login(ctx, "late", "guess", "10.255.0.1")
	if addrs, users := auth.Tracked(a); addrs != 1 || users != 1 {
		t.Fatalf("after a quiet %v: tracking %d addresses and %d users, want 1 each", auth.LoginForgetAfter, addrs, users)
	}
}

// TestBackedOffLoginIsRefusedAfterAPause checks that a flood's refusals
// come no faster than the refusal delay, so that its connections send
// few requests, and no slower than the back-off left.
func TestBackedOffLoginIsRefusedAfterAPause(t *testing.T) {
	const delay = 200 * time.Millisecond
	ctx := context.Background()
	a := MustOpen(t, t.TempDir(), auth.Config{RefusalDelay: delay, HashRate: -1})
	auth.SetCheck(a, func(hash, password string) (bool, error) { return false, nil })
	for range auth.LoginFreeFailuresPerAddress + 1 {
		a.Login(ctx, "nobody", "guess", "10.0.0.1")
	}
	start := time.Now()
	_, _, err := a.Login(ctx, "nobody", "guess", "10.0.0.1")
	wantCode(t, err, usher.ERateLimited)
	if d := time.Since(start); d < delay || d > auth.LoginBackoffMin+5*time.Second {
		t.Errorf("refused after %v, want after %v", d, delay)
	}
}

// TestLoginHashesArePaced checks that hashes start no faster than
// HashRate, and that a login that would wait past HashWait for its turn
// is refused instead.
func TestLoginHashesArePaced(t *testing.T) {
	const perSecond = 5
	a := MustOpen(t, t.TempDir(), auth.Config{MaxHashes: 1, HashWait: 400 * time.Millisecond, HashRate: perSecond})
	var checks atomic.Int32
	auth.SetCheck(a, func(hash, password string) (bool, error) { checks.Add(1); return false, nil })
	start := time.Now()
	for i := range 3 { // the first at once, then one every 200ms
		_, _, err := a.Login(context.Background(), fmt.Sprintf("u%d", i), "guess", fmt.Sprintf("10.0.0.%d", i))
		wantCode(t, err, usher.EUnauthorized)
	}
	if d := time.Since(start); d < 2*time.Second/perSecond {
		t.Errorf("3 hashes in %v, want at least %v between starts", d, time.Second/perSecond)
	}
	slow := MustOpen(t, t.TempDir(), auth.Config{MaxHashes: 1, HashWait: 50 * time.Millisecond, HashRate: 1})
	auth.SetCheck(slow, func(hash, password string) (bool, error) { return false, nil })
	slow.Login(context.Background(), "first", "guess", "10.0.1.1")
	_, _, err := slow.Login(context.Background(), "second", "guess", "10.0.1.2")
	wantCode(t, err, usher.EUnavailable)
}
