package httpapi_test

import (
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
)

// walkMeter calls the consumption and renewal operations.
func walkMeter(w *walker, s *ushertest.Server) {
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), RenewalURL: "https://renew.example.com/test",
		Grants: []usher.Grant{
			{Feature: "render", Meter: usher.Meter{Consumption: 5, Period: usher.PeriodMonth, Overage: 1}},
			{Feature: "sim", Seats: 1, RenewEvery: 30 * 24 * time.Hour},
			{Feature: "cam", Seats: 1, Subscription: usher.Subscription{Length: 30 * 24 * time.Hour, Group: "cam"}},
		}}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		w.t.Fatal(err)
	}
	w.expect("POST", "/v1/licenses", s.Token, string(text), 201)
	consume := `{"feature":"render","amount":4,"client":{"id":"farm-1","user":"ann"},"id":"job-1"}`
	w.expect("POST", "/v1/consumptions", "", consume, 200)
	w.expect("POST", "/v1/consumptions", "", `{"feature":"render","amount":3,"client":{"id":"farm-1"}}`, 409)
	w.expect("POST", "/v1/consumptions", "", `{"feature":"nope","amount":1,"client":{"id":"farm-1"}}`, 404)
	w.expect("POST", "/v1/consumptions", "", `{"feature":"render","amount":0,"client":{"id":"farm-1"}}`, 400)
	w.expect("GET", "/v1/consumptions", s.Token, "", 200)
	w.expect("GET", "/v1/features", "", "", 200)
	w.expect("GET", "/v1/licenses", s.Token, "", 200)
	renewal, err := usher.SignRenewal(&usher.Renewal{LicenseID: lic.ID, IssuedAt: time.Now(), Until: time.Now().Add(90 * 24 * time.Hour)}, s.Vendor)
	if err != nil {
		w.t.Fatal(err)
	}
	w.expect("POST", "/v1/renewals", s.Token, string(renewal), 200)
	w.expect("POST", "/v1/renewals", s.Token, "not a renewal", 422)
	w.expect("DELETE", "/v1/licenses/"+lic.ID, s.Token, "", 200)
	w.expect("POST", "/v1/renewals", s.Token, string(renewal), 404)
}
