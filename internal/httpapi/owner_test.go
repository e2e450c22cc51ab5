package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

// clientFrom returns an API client whose connections come from the
// loopback address local, as a client on another host would.
func (s *apiServer) clientFrom(t *testing.T, local, token string) *apiclient.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: d.DialContext}
	c, err := apiclient.New(apiclient.Config{Servers: []string{s.URL}, Token: token, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// wantHeldElsewhere checks the answer to a caller that does not own a
// lease: 409 lease_held_elsewhere.
func wantHeldElsewhere(t *testing.T, what string, err error) {
	t.Helper()
	if got := usher.ErrorCode(err); got != usher.ELeaseHeldElsewhere {
		t.Fatalf("%s by another owner: got %v (code %q), want code %q", what, err, got, usher.ELeaseHeldElsewhere)
	}
	if got := wire.StatusOf(usher.ErrorCode(err)); got != http.StatusConflict {
		t.Fatalf("%s: got status %d, want 409", what, got)
	}
}

// checkOwnership has b try what only a's lease's owner may do.
func checkOwnership(t *testing.T, s *apiServer, a, b *apiclient.Client) {
	t.Helper()
	ctx := context.Background()
	req := wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: "c_shared"}}
	held, _, err := a.Checkout(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := b.Checkout(ctx, req)
	wantHeldElsewhere(t, "checkout", err)
	if got.ID != "" {
		t.Fatalf("another owner got lease %q, want none", got.ID)
	}
	_, err = b.Heartbeat(ctx, held.ID)
	wantHeldElsewhere(t, "heartbeat", err)
	wantHeldElsewhere(t, "release", b.Release(ctx, held.ID))
	// The owner keeps its lease: retried checkout, heartbeat.
	again, created, err := a.Checkout(ctx, req)
	if err != nil || created || again.ID != held.ID {
		t.Fatalf("owner's retried checkout: got %q, created %v, err %v; want %q, false, nil", again.ID, created, err, held.ID)
	}
	if _, err := a.Heartbeat(ctx, held.ID); err != nil {
		t.Fatalf("owner's heartbeat: %v", err)
	}
	// An admin kicks it whoever owns it.
	if err := s.client(t, adminToken).Release(ctx, held.ID); err != nil {
		t.Fatalf("admin kick: %v", err)
	}
}

func TestLeaseBelongsToItsClientToken(t *testing.T) {
	s := MustStartAPI(t, serverOptions{})
	ctx := context.Background()
	_, tokA, err := s.Auth.CreateToken(ctx, "app-a", auth.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	_, tokB, err := s.Auth.CreateToken(ctx, "app-b", auth.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	// Both from the same address: the credential decides.
	checkOwnership(t, s, s.client(t, tokA), s.client(t, tokB))
}

func TestLeaseOnOpenServerBelongsToItsAddress(t *testing.T) {
	s := MustStartAPI(t, serverOptions{})
	checkOwnership(t, s, s.clientFrom(t, "127.0.0.1", ""), s.clientFrom(t, "127.0.0.2", ""))
}

func TestLeaseWithClientPasswordBelongsToItsAddress(t *testing.T) {
	s := MustStartAPI(t, serverOptions{clientPassword: "shared secret"})
	checkOwnership(t, s, s.clientFrom(t, "127.0.0.1", "shared secret"), s.clientFrom(t, "127.0.0.2", "shared secret"))
}
