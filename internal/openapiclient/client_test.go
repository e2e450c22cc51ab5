package openapiclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/openapiclient"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestCheckoutHeartbeatRelease checks out, heartbeats and releases a seat
// with the client generated from the OpenAPI document, against a real
// server.
func TestCheckoutHeartbeatRelease(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 1}})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := openapiclient.NewClientWithResponses(s.URL(), openapiclient.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	co, err := c.CheckoutWithResponse(ctx, openapiclient.CheckoutRequest{Feature: "cad", ClientIdentity: openapiclient.ClientIdentity{Id: "generated"}})
	if err != nil {
		t.Fatal(err)
	}
	if co.JSON201 == nil {
		t.Fatalf("checkout answered %d %s, want 201 with a lease", co.StatusCode(), co.Body)
	}
	id := co.JSON201.Id
	if co.JSON201.Feature != "cad" || co.JSON201.HeartbeatInterval == "" {
		t.Errorf("checkout answered %+v, want a lease of cad with a heartbeat interval", co.JSON201)
	}

	busy, err := c.CheckoutWithResponse(ctx, openapiclient.CheckoutRequest{Feature: "cad", ClientIdentity: openapiclient.ClientIdentity{Id: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if busy.JSON409 == nil || busy.JSON409.Code != "no_seats_available" {
		t.Errorf("second checkout answered %d %s, want 409 no_seats_available", busy.StatusCode(), busy.Body)
	}

	hb, err := c.HeartbeatWithResponse(ctx, id, openapiclient.HeartbeatJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if hb.JSON200 == nil || hb.JSON200.Id != id || !hb.JSON200.ExpiresAt.After(co.JSON201.IssuedAt) {
		t.Errorf("heartbeat answered %d %s, want 200 for lease %s expiring later", hb.StatusCode(), hb.Body, id)
	}

	rel, err := c.ReleaseWithResponse(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rel.StatusCode() != http.StatusNoContent {
		t.Errorf("release answered %d %s, want 204", rel.StatusCode(), rel.Body)
	}
	again, err := c.ReleaseWithResponse(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if again.JSON404 == nil || again.JSON404.Code != "lease_not_found" {
		t.Errorf("second release answered %d %s, want 404 lease_not_found", again.StatusCode(), again.Body)
	}
	if n := len(s.Ledger().Leases()); n != 0 {
		t.Errorf("the server holds %d leases after the release, want 0", n)
	}
}

// TestGeneratedFromDocument checks that the client was generated from the
// document as it is now.
func TestGeneratedFromDocument(t *testing.T) {
	doc, err := os.ReadFile("../httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("openapi.sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	if got := hex.EncodeToString(sum[:]); got != strings.TrimSpace(string(want)) {
		t.Errorf("internal/httpapi/openapi.json has sha256 %s, but the client was generated from %s: run go generate ./internal/openapiclient", got, strings.TrimSpace(string(want)))
	}
}
