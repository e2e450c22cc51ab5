package daemon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestServerFetchesRenewals: the deciding node fetches a checkpoint
// license's renewal from its renewal URL once half the period has passed,
// on the ticks of its renewal ticker.
func TestServerFetchesRenewals(t *testing.T) {
	const period = 30 * 24 * time.Hour
	clock := ushertest.NewClock(time.Now().UTC().Truncate(time.Second))
	tick := make(chan time.Time)
	s := ushertest.StartServer(t, ushertest.ServerOptions{Daemon: daemon.Options{Now: clock.Now, RenewalTick: tick}})
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: clock.Now(), Grants: []usher.Grant{{Feature: "sim", Seats: 1, RenewEvery: period}}}
	var renewal []byte
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/acme/"+usher.RenewalFileName(lic.ID) {
			http.NotFound(w, r)
			return
		}
		w.Write(renewal)
	}))
	defer vendor.Close()
	lic.RenewalURL = vendor.URL + "/acme"
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	if renewal, err = usher.SignRenewal(&usher.Renewal{LicenseID: lic.ID, IssuedAt: clock.Now(), Until: clock.Now().Add(365 * 24 * time.Hour)}, s.Vendor); err != nil {
		t.Fatal(err)
	}
	first := s.Ledger().Checkpoints()[0].TechnicalExpiry
	clock.Advance(period / 2)
	want := clock.Now().Add(period)
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the renewal fetched", func() bool {
		select {
		case tick <- clock.Now():
		case <-time.After(10 * time.Millisecond):
		}
		return s.Ledger().Checkpoints()[0].TechnicalExpiry.Equal(want)
	}))
	if !want.After(first) {
		t.Fatalf("technical expiry %v did not move past %v", want, first)
	}
}
