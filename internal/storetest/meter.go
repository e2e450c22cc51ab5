package storetest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

func testConsumption(i int) usher.Consumption {
	return usher.Consumption{
		ID: fmt.Sprintf("cs_%06d", i), RequestID: fmt.Sprintf("job-%d", i), Feature: "render",
		Client: usher.Client{ID: fmt.Sprintf("client-%d", i), User: "alice", Host: "ws12", PID: 10 + i},
		Amount: int64(1000 + i), At: time.Date(2026, 11, 23, 10, 0, i%60, 987654321, time.UTC),
	}
}

func testConsumptionRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	for i := range 3 {
		if err := s.PutConsumption(ctx, testConsumption(i)); err != nil {
			t.Fatalf("PutConsumption: %v", err)
		}
	}
	if err := s.DeleteConsumptions(ctx, []string{"cs_000001", "cs_missing"}); err != nil {
		t.Fatalf("DeleteConsumptions: %v", err)
	}
	s = reopen(t, s, open)
	got := mustLoad(t, s).Consumptions
	slices.SortFunc(got, func(a, b usher.Consumption) int { return a.At.Compare(b.At) })
	want := []usher.Consumption{testConsumption(0), testConsumption(2)}
	if len(got) != len(want) {
		t.Fatalf("got %d consumptions after reopen, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.RequestID != w.RequestID || g.Feature != w.Feature || g.Client != w.Client || g.Amount != w.Amount || !g.At.Equal(w.At) {
			t.Fatalf("got consumption %+v, want %+v", g, w)
		}
	}
}

func testLicenseStateRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	first := usher.LicenseState{ID: "lic_a", ActivatedAt: at, Tickets: []usher.Ticket{{Feature: "cad", Group: "pro", Length: 30 * 24 * time.Hour}}}
	if err := s.PutLicenseState(ctx, first); err != nil {
		t.Fatalf("PutLicenseState: %v", err)
	}
	if err := s.PutLicense(ctx, usher.LicenseRecord{ID: "lic_a", Text: []byte("text")}); err != nil {
		t.Fatalf("PutLicense: %v", err)
	}
	renewed := first
	renewed.RenewedAt, renewed.Until, renewed.Renewal = at.Add(time.Hour), at.Add(48*time.Hour), []byte("signed renewal\n")
	if err := s.PutLicenseState(ctx, renewed); err != nil {
		t.Fatalf("PutLicenseState again: %v", err)
	}
	// The state outlives its license: a removed ticket stays activated.
	if err := s.DeleteLicense(ctx, "lic_a"); err != nil {
		t.Fatalf("DeleteLicense: %v", err)
	}
	s = reopen(t, s, open)
	got := mustLoad(t, s).LicenseStates
	if len(got) != 1 {
		t.Fatalf("got %d license states after reopen, want 1", len(got))
	}
	g := got[0]
	if g.ID != "lic_a" || !g.ActivatedAt.Equal(at) || !slices.Equal(g.Tickets, first.Tickets) || !g.RenewedAt.Equal(renewed.RenewedAt) ||
		!g.Until.Equal(renewed.Until) || string(g.Renewal) != string(renewed.Renewal) {
		t.Fatalf("got state %+v, want %+v", g, renewed)
	}
}

// testLedgerKeepsConsumptions checks through a ledger that a counter
// survives reopening the store.
func testLedgerKeepsConsumptions(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := usher.NewKeyring(pub)
	s := open()
	led, err := usher.OpenLedger(ctx, usher.LedgerConfig{Store: s, Keyring: keys})
	if err != nil {
		t.Fatal(err)
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "ACME", IssuedAt: time.Now(),
		Grants: []usher.Grant{{Feature: "render", Meter: usher.Meter{Consumption: 10, Period: usher.PeriodNone}}}}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.AddLicense(ctx, text); err != nil {
		t.Fatal(err)
	}
	req := usher.ConsumeRequest{Feature: "render", Amount: 6, Client: usher.Client{ID: "c1"}, ID: "r1"}
	if _, err := led.Consume(ctx, req); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, open)
	if led, err = usher.OpenLedger(ctx, usher.LedgerConfig{Store: s, Keyring: keys}); err != nil {
		t.Fatal(err)
	}
	if r, err := led.Consume(ctx, req); err != nil || r.Used != 6 {
		t.Fatalf("retry after reopen: got %+v, %v; want used 6", r, err)
	}
	req.ID, req.Amount = "r2", 5
	if _, err := led.Consume(ctx, req); usher.ErrorCode(err) != usher.EConsumptionExhausted {
		t.Fatalf("consume beyond the limit after reopen: got %v, want %s", err, usher.EConsumptionExhausted)
	}
	if at, ok := led.LicenseActivation(lic.ID); !ok || at.IsZero() {
		t.Fatalf("got activation %v, %v after reopen, want one", at, ok)
	}
}
