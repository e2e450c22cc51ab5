package httpapi_test

import (
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

// walkAccess walks the Licensee Secret and registered users endpoints.
func walkAccess(w *walker, s *ushertest.Server) {
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), LicenseeSecret: usher.SecretClient,
		Grants: []usher.Grant{{Feature: "locked", Seats: 2, Users: usher.UsersNamed}}}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		w.t.Fatal(err)
	}
	w.expect("POST", "/v1/licenses", s.Token, string(text), 201)
	checkout := func(id, user, secret string) string {
		return `{"feature":"locked","client":{"id":"` + id + `","user":"` + user + `","secret":"` + secret + `"}}`
	}
	w.expect("POST", "/v1/features/locked/users", s.Token, `{"users":["ann"]}`, 200)
	w.expect("POST", "/v1/features/locked/users", s.Token, `{"users":["bob","cy"]}`, 409)
	w.expect("POST", "/v1/features/locked/users", s.Token, `{"users":[]}`, 400)
	w.expect("POST", "/v1/leases", "", checkout("s1", "bob", "one"), 403)
	w.expect("POST", "/v1/leases", "", checkout("s1", "ann", "one"), 201)
	w.expect("POST", "/v1/leases", "", checkout("s2", "ann", "two"), 403)
	w.expect("GET", "/v1/features/locked/users", s.Token, "", 200)
	w.expect("DELETE", "/v1/features/locked/users", s.Token, `{"users":["ann"]}`, 200)
	w.expect("DELETE", "/v1/features/locked/users", s.Token, `{"users":[""]}`, 400)
	unbind, err := usher.SignUnbind(&usher.Unbind{LicenseID: lic.ID, IssuedAt: time.Now().Add(time.Second), ExpiresAt: time.Now().Add(time.Hour)}, s.Vendor)
	if err != nil {
		w.t.Fatal(err)
	}
	w.expect("POST", "/v1/licenses/unbind", s.Token, "not an unbind file", 422)
	w.expect("POST", "/v1/licenses/unbind", s.Token, string(unbind), 200)
	w.expect("POST", "/v1/licenses/unbind", s.Token, string(unbind), 404)
}
