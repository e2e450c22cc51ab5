package usher_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func TestLicenseModelsRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	want := []usher.Grant{
		{Feature: "render", Seats: 2, Meter: usher.Meter{Consumption: 1000, Period: usher.PeriodMonth, Overage: 50}},
		{Feature: "bake", Meter: usher.Meter{Consumption: 5, Period: usher.PeriodNone, OverageUnlimited: true}},
		{Feature: "cad", Seats: 5, Subscription: usher.Subscription{Length: 90 * 24 * time.Hour, Group: "cad-pro"}},
		{Feature: "sim", Seats: 1, RenewEvery: 36 * time.Hour},
	}
	lic := &usher.License{ID: "lic_0123456789abcdef", Licensee: "ACME Corp", IssuedAt: t0, Grants: want, RenewalURL: "https://renew.example.com/acme/"}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"consumption=1000 period=month overage=50", "overage=unlimited", "subscription=90d group=cad-pro", "renew_every=36h", "renewal_url: https://renew.example.com/acme/"} {
		if !strings.Contains(string(text), s) {
			t.Errorf("license text lacks %q:\n%s", s, text)
		}
	}
	got, err := usher.NewKeyring(pub).Verify(text)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.RenewalURL != lic.RenewalURL {
		t.Fatalf("got renewal URL %q, want %q", got.RenewalURL, lic.RenewalURL)
	}
	for i := range want {
		if got.Grants[i] != want[i] {
			t.Errorf("got grant %+v, want %+v", got.Grants[i], want[i])
		}
	}
}

func TestLicenseModelRefusals(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	for name, g := range map[string]usher.Grant{
		"period without consumption":  {Feature: "a", Meter: usher.Meter{Period: usher.PeriodDay}},
		"unknown period":              {Feature: "a", Meter: usher.Meter{Consumption: 1, Period: "week"}},
		"subscription without group":  {Feature: "a", Subscription: usher.Subscription{Length: time.Hour}},
		"group without subscription":  {Feature: "a", Subscription: usher.Subscription{Group: "g"}},
		"subscription with an expiry": {Feature: "a", ExpiresAt: t0, Subscription: usher.Subscription{Length: time.Hour, Group: "g"}},
	} {
		lic := &usher.License{ID: "lic_x", Licensee: "ACME", IssuedAt: t0, Grants: []usher.Grant{g}}
		if _, err := usher.Sign(lic, priv); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%s: got %v, want invalid_request", name, err)
		}
	}
	for name, lic := range map[string]*usher.License{
		"ftp renewal URL":                 {Grants: []usher.Grant{{Feature: "a", Seats: 1, RenewEvery: time.Hour}}, RenewalURL: "ftp://x/"},
		"renewal URL without renew_every": {Grants: []usher.Grant{{Feature: "a", Seats: 1}}, RenewalURL: "https://x/"},
	} {
		lic.ID, lic.Licensee, lic.IssuedAt = "lic_x", "ACME", t0
		if _, err := usher.Sign(lic, priv); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%s: got %v, want invalid_request", name, err)
		}
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1d": 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		got, err := usher.ParseDays(in)
		if err != nil || got != want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "0d", "x", "1.5d", "1ms"} {
		if _, err := usher.ParseDays(in); err == nil {
			t.Errorf("ParseDays(%q): got nil error", in)
		}
	}
	if got := usher.FormatDays(365 * 24 * time.Hour); got != "365d" {
		t.Errorf("FormatDays(365d) = %q", got)
	}
}
