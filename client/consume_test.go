package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

func TestConsume(t *testing.T) {
	s := MustStartServer(t, time.Second, nil)
	g := usher.Grant{Feature: "render", Meter: usher.Meter{Consumption: 10, Period: usher.PeriodMonth, Overage: 2}}
	if _, err := s.Ledger().AddLicense(context.Background(), s.Sign(g)); err != nil {
		t.Fatal(err)
	}
	c := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "renderer-1"})
	ctx := context.Background()
	r, err := c.Consume(ctx, "render", 4)
	if err != nil {
		t.Fatal(err)
	}
	if r.Feature != "render" || r.Used != 4 || r.Remaining != 6 || r.PeriodEndsAt == nil {
		t.Fatalf("got %+v, want 4 used, 6 remaining, a period end", r)
	}
	for range 2 { // one id, counted once
		if r, err = c.Consume(ctx, "render", 5, client.ConsumeID("job-7")); err != nil || r.Used != 9 {
			t.Fatalf("consume job-7: got %+v, %v; want 9 used", r, err)
		}
	}
	if _, err := c.Consume(ctx, "render", 4); !errors.Is(err, usher.ErrConsumptionExhausted) {
		t.Fatalf("consume beyond limit and overage: got %v, want ErrConsumptionExhausted", err)
	}
	if _, err := c.Consume(ctx, "cad", 1); !errors.Is(err, usher.ErrFeatureNotFound) {
		t.Fatalf("consume of an unknown feature: got %v, want ErrFeatureNotFound", err)
	}
	fs, err := s.Admin().Features(ctx)
	if err != nil || len(fs) != 1 || fs[0].Consumption == nil || fs[0].Consumption.Used != 9 {
		t.Fatalf("got features %+v, %v; want render with 9 used", fs, err)
	}
	rep, err := s.Admin().Consumptions(ctx)
	if err != nil || len(rep) != 1 || rep[0].Client.ID != "renderer-1" || rep[0].Used != 9 || rep[0].Consumptions != 2 {
		t.Fatalf("got report %+v, %v; want renderer-1 with 9 units in 2 consumptions", rep, err)
	}
}

// TestConsumeOverHTTP checks the status and body of a refused consumption
// as the API documents them.
func TestConsumeOverHTTP(t *testing.T) {
	s := MustStartServer(t, time.Second, nil)
	g := usher.Grant{Feature: "render", Meter: usher.Meter{Consumption: 1, Period: usher.PeriodNone}}
	if _, err := s.Ledger().AddLicense(context.Background(), s.Sign(g)); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(s.URL()+"/v1/consumptions", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	code, out := post(`{"feature":"render","amount":1,"client":{"id":"c1"},"id":"a"}`)
	if code != http.StatusOK || out["used"] != 1.0 || out["remaining"] != 0.0 || out["period_ends_at"] != nil {
		t.Fatalf("got %d %v, want 200 with used 1, remaining 0, period_ends_at null", code, out)
	}
	code, out = post(`{"feature":"render","amount":1,"client":{"id":"c1"}}`)
	if code != http.StatusConflict || out["code"] != usher.EConsumptionExhausted {
		t.Fatalf("got %d %v, want 409 consumption_exhausted", code, out)
	}
	if code, out = post(`{"feature":"render","amount":"1","client":{"id":"c1"}}`); code != http.StatusBadRequest {
		t.Fatalf("got %d %v for a string amount, want 400", code, out)
	}
}
