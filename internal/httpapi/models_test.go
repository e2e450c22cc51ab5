package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func modelBody(feature, client, extra string) string {
	return fmt.Sprintf(`{"feature":%q,"client":{"id":%q,"user":"alice","host":"ws12","pid":4242}%s}`, feature, client, extra)
}

func TestModelsOverHTTP(t *testing.T) {
	s := startServer(t, 180*time.Second)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 3, Borrow: 7 * 24 * time.Hour, Version: "2026.2"},
		usher.Grant{Feature: "viewer", Seats: 1, Scope: usher.ScopeHost})

	status, big := s.call("POST", "/v1/leases", "", modelBody("cad", "job", `,"count":2,"version":"2026"`))
	if status != http.StatusCreated || big["count"] != float64(2) || big["version"] != "2026.2" {
		t.Fatalf("count 2: status %d, body %v, want 201 with count 2 of version 2026.2", status, big)
	}
	status, body := s.call("POST", "/v1/leases", "", modelBody("cad", "x", `,"version":"2027"`))
	if status != http.StatusNotFound || body["code"] != usher.EFeatureNotFound {
		t.Fatalf("version 2027: status %d, body %v, want 404 %s", status, body, usher.EFeatureNotFound)
	}
	status, body = s.call("POST", "/v1/leases", "", modelBody("cad", "laptop", `,"borrow":"192h"`))
	if status != http.StatusForbidden || body["code"] != usher.EBorrowNotAllowed {
		t.Fatalf("borrow beyond the maximum: status %d, body %v, want 403 %s", status, body, usher.EBorrowNotAllowed)
	}
	status, lent := s.call("POST", "/v1/leases", "", modelBody("cad", "laptop", `,"borrow":"72h"`))
	if status != http.StatusCreated || lent["borrowed_until"] == nil {
		t.Fatalf("borrow: status %d, body %v, want 201 with borrowed_until", status, lent)
	}
	checkBorrowToken(t, s, lent)
	if fs := s.featureStatus("cad"); fs.Borrowed != 1 || fs.InUse != 3 {
		t.Fatalf("features: got %+v, want 3 in use, 1 borrowed", fs)
	}
	if status, _ := s.call("DELETE", "/v1/leases/"+lent["id"].(string), "", ""); status != http.StatusNoContent {
		t.Fatalf("early return: status %d, want 204", status)
	}
	if fs := s.featureStatus("cad"); fs.Borrowed != 0 || fs.InUse != 2 {
		t.Fatalf("after the return: got %+v, want 2 in use, none borrowed", fs)
	}

	_, w1 := s.call("POST", "/v1/leases", "", modelBody("viewer", "w1", ""))
	_, w2 := s.call("POST", "/v1/leases", "", modelBody("viewer", "w2", ""))
	if w1["seat"] != "host:ws12" || w2["seat"] != w1["seat"] {
		t.Fatalf("scope host: got seats %v and %v, want both host:ws12", w1["seat"], w2["seat"])
	}
	status, body = s.call("POST", "/v1/leases", "", modelBody("viewer", "w3", `,"count":-1`))
	if status != http.StatusBadRequest {
		t.Fatalf("count -1: status %d, body %v, want 400", status, body)
	}
}

func (s *testServer) featureStatus(name string) usher.FeatureStatus {
	s.t.Helper()
	fs, err := s.admin.Features(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	s.t.Fatalf("feature %s not listed", name)
	return usher.FeatureStatus{}
}

// checkBorrowToken verifies a borrow answer's token with the key the
// server publishes.
func checkBorrowToken(t *testing.T, s *testServer, lent map[string]any) {
	t.Helper()
	_, info := s.call("GET", "/v1/server", s.token, "")
	raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(info["server_key"]))
	if err != nil {
		t.Fatalf("server_key %v: %v", info["server_key"], err)
	}
	tok, _ := lent["borrow_token"].(string)
	c, err := usher.VerifyBorrowToken(tok, ed25519.PublicKey(raw), "laptop", s.clock.Now(), time.Time{})
	if err != nil || c.LeaseID != lent["id"] {
		t.Fatalf("borrow token %q: claims %+v, %v, want lease %v signed by the server", tok, c, err, lent["id"])
	}
}
