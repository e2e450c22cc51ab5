package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// addSecretLicense loads a license of feature cad in a Licensee Secret mode.
func (s *testServer) addSecretLicense(mode, hash string, grants ...usher.Grant) *usher.License {
	s.t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), Grants: grants, LicenseeSecret: mode, SecretHash: hash}
	text, err := usher.Sign(lic, s.srv.Vendor)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.admin.AddLicense(context.Background(), text); err != nil {
		s.t.Fatalf("add license: %v", err)
	}
	return lic
}

// raw sends a request with the admin token and returns the body.
func (s *testServer) raw(method, path string) string {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(data)
}

func secretCheckout(feature, client, secret string) string {
	return fmt.Sprintf(`{"feature":%q,"client":{"id":%q,"user":"alice","secret":%q}}`, feature, client, secret)
}

func TestLicenseeSecretOverHTTP(t *testing.T) {
	s := startServer(t, time.Minute)
	lic := s.addSecretLicense(usher.SecretClient, "", usher.Grant{Feature: "cad", Seats: 3})
	if st, body := s.call("POST", "/v1/leases", s.token, checkoutBody("cad", "c0")); st != http.StatusForbidden || body["code"] != usher.ELicenseeSecretRequired {
		t.Fatalf("checkout without a secret: got %d %v, want 403 %s", st, body, usher.ELicenseeSecretRequired)
	}
	if st, body := s.call("POST", "/v1/leases", s.token, secretCheckout("cad", "c1", "hunter2-machine")); st != http.StatusCreated {
		t.Fatalf("first checkout with a secret: got %d %v, want 201", st, body)
	}
	if st, body := s.call("POST", "/v1/leases", s.token, secretCheckout("cad", "c2", "other-machine")); st != http.StatusForbidden || body["code"] != usher.ELicenseeSecretMismatch {
		t.Fatalf("checkout with another secret: got %d %v, want 403 %s", st, body, usher.ELicenseeSecretMismatch)
	}
	for _, path := range []string{"/v1/leases", "/v1/events?limit=100"} {
		if body := s.raw("GET", path); strings.Contains(body, "hunter2") || strings.Contains(body, `"secret"`) {
			t.Fatalf("GET %s shows the secret: %s", path, body)
		}
	}
	lics, err := s.admin.Licenses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(lics) != 1 || lics[0].LicenseeSecret != usher.SecretClient || lics[0].SecretBoundAt == nil {
		t.Fatalf("got licenses %+v, want one in client mode, bound", lics)
	}
	file, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: time.Now().Add(time.Second), ExpiresAt: time.Now().Add(time.Hour)}, s.srv.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.Unbind(context.Background(), file); err != nil {
		t.Fatalf("unbind: %v", err)
	}
	if _, err := s.admin.Unbind(context.Background(), file); usher.ErrorCode(err) != usher.ESecretNotBound {
		t.Fatalf("second unbind: got %v, want %s", err, usher.ESecretNotBound)
	}
	if st, body := s.call("POST", "/v1/leases", s.token, secretCheckout("cad", "c2", "other-machine")); st != http.StatusCreated {
		t.Fatalf("checkout after unbind: got %d %v, want 201", st, body)
	}
}

func TestFeatureUsersOverHTTP(t *testing.T) {
	s := startServer(t, time.Minute)
	s.addLicense(usher.Grant{Feature: "cad", Seats: 1, Users: usher.UsersNamed})
	if st, body := s.call("POST", "/v1/leases", s.token, checkoutBody("cad", "c1")); st != http.StatusForbidden || body["code"] != usher.EUserNotRegistered {
		t.Fatalf("checkout by an unregistered user: got %d %v, want 403 %s", st, body, usher.EUserNotRegistered)
	}
	if st, body := s.call("POST", wire.FeatureUsersPath("cad"), s.token, `{"users":["alice"]}`); st != http.StatusOK {
		t.Fatalf("assign: got %d %v", st, body)
	}
	if st, body := s.call("POST", wire.FeatureUsersPath("cad"), s.token, `{"users":["bob"]}`); st != http.StatusConflict || body["code"] != usher.ETooManyUsers {
		t.Fatalf("assign beyond the seats: got %d %v, want 409 %s", st, body, usher.ETooManyUsers)
	}
	if st, body := s.call("POST", "/v1/leases", s.token, checkoutBody("cad", "c1")); st != http.StatusCreated {
		t.Fatalf("checkout by alice: got %d %v", st, body)
	}
	got, err := s.admin.FeatureUsers(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Users) != 1 || got.Users[0].User != "alice" || got.Users[0].RegisteredAt.IsZero() || got.Users[0].LastCheckoutAt.IsZero() {
		t.Fatalf("got users %+v, want alice with registered_at and last_checkout_at", got.Users)
	}
	out, err := s.admin.Unassign(context.Background(), "cad", []string{"alice"})
	if err != nil || len(out.Users) != 1 {
		t.Fatalf("unassign: got %+v, %v", out, err)
	}
	if got, _ := s.admin.FeatureUsers(context.Background(), "cad"); len(got.Users) != 0 {
		t.Fatalf("after unassign got %+v, want none", got.Users)
	}
}
