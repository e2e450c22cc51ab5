package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/daemon"
)

// TestClientPasswordOverPinnedTLS checks out from a server that serves a
// self-signed certificate and requires a client credential: the client
// pins the certificate's fingerprint and sends the password.
func TestClientPasswordOverPinnedTLS(t *testing.T) {
	s := MustStartServer(t, 3*time.Second, map[string]int{"cad": 1}, func(c *daemon.Config) {
		c.TLSAuto = true
		c.ClientPassword = "open sesame"
	})
	url := "https://" + s.Addr()
	ctx := context.Background()

	c := MustNew(t, client.Options{Servers: []string{url}, Token: "open sesame", TLSFingerprint: s.Daemon.TLSFingerprint(), RetryTimeout: time.Second})
	l, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatalf("checkout with the password over pinned TLS: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// The environment works as well as the options.
	env := map[string]string{client.EnvServer: url, client.EnvClientToken: "open sesame", client.EnvTLSFingerprint: s.Daemon.TLSFingerprint()}
	c = MustNew(t, client.Options{Getenv: func(k string) string { return env[k] }, ClientID: "from-env"})
	if _, err := c.Checkout(ctx, "cad"); err != nil {
		t.Fatalf("checkout configured from the environment: %v", err)
	}
}

func TestWrongCredentialIsNotRetried(t *testing.T) {
	s := MustStartServer(t, 3*time.Second, map[string]int{"cad": 1}, func(c *daemon.Config) {
		c.ClientPassword = "open sesame"
	})
	c := MustNew(t, client.Options{Servers: []string{s.URL()}, Token: "guess", RetryTimeout: time.Minute})
	start := time.Now()
	_, err := c.Checkout(context.Background(), "cad")
	if !errors.Is(err, usher.ErrUnauthorized) {
		t.Fatalf("checkout with a wrong password: %v, want %s", err, usher.EUnauthorized)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("a refused credential was retried for %s", time.Since(start))
	}
}

func TestUnpinnedSelfSignedServerIsRefused(t *testing.T) {
	s := MustStartServer(t, 3*time.Second, map[string]int{"cad": 1}, func(c *daemon.Config) { c.TLSAuto = true })
	c := MustNew(t, client.Options{Servers: []string{"https://" + s.Addr()}, RetryTimeout: 300 * time.Millisecond})
	if _, err := c.Checkout(context.Background(), "cad"); !errors.Is(err, usher.ErrUnavailable) {
		t.Fatalf("checkout from an unpinned self-signed server: %v, want %s", err, usher.EUnavailable)
	}
}

func TestRateLimitedRequestIsRetried(t *testing.T) {
	s := MustStartServer(t, 3*time.Second, map[string]int{"cad": 1}, func(c *daemon.Config) {
		c.RateLimit.Requests = 2
		c.RateLimit.Interval = daemon.Duration(300 * time.Millisecond)
	})
	c := MustNew(t, client.Options{Servers: []string{s.URL()}, RetryTimeout: 20 * time.Second})
	ctx := context.Background()
	for i := range 3 { // six requests against two per 300ms
		l, err := c.Checkout(ctx, "cad")
		if err != nil {
			t.Fatalf("checkout %d: %v", i, err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
}
