package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// TestFailoverErrorNamesEveryServer checks that when no server answers,
// the error names each server with its own error, not only the last.
func TestFailoverErrorNamesEveryServer(t *testing.T) {
	c := MustNew(t, client.Options{Servers: []string{"127.0.0.1:1", "127.0.0.1:2"}, Getenv: func(string) string { return "" }})
	_, err := c.Do(context.Background(), client.Request{Path: "/v1/status"})
	if !errors.Is(err, usher.ErrUnavailable) {
		t.Fatalf("Do = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"127.0.0.1:1:", "127.0.0.1:2:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Do = %q, want it to name %q with its error", err, want)
		}
	}
}

// TestUntrustedCertificateIsNotUnreachable checks that a server whose
// certificate the client does not trust is reported as such, with the way
// to pin it, and not as a server that does not run.
func TestUntrustedCertificateIsNotUnreachable(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := MustNew(t, client.Options{Servers: []string{srv.URL}, Getenv: func(string) string { return "" }, RetryTimeout: 300 * time.Millisecond})
	for name, call := range map[string]func() error{
		"Do":       func() error { _, err := c.Do(context.Background(), client.Request{Path: "/v1/status"}); return err },
		"Checkout": func() error { _, err := c.Checkout(context.Background(), "cad"); return err },
	} {
		err := call()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if !strings.Contains(msg, "does not trust") || !strings.Contains(msg, client.EnvTLSFingerprint) || strings.Contains(msg, "check that the server runs") {
			t.Errorf("%s = %v, want an untrusted certificate naming %s", name, err, client.EnvTLSFingerprint)
		}
	}
}
