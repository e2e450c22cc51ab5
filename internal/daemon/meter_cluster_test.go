package daemon_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestClusterFailoverKeepsCountersAndActivations: consumption counters,
// their idempotency ids and subscription activations live in etcd, so the
// node that decides next counts on from them.
func TestClusterFailoverKeepsCountersAndActivations(t *testing.T) {
	const day = 24 * time.Hour
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	first := ushertest.Sign(t, c.Vendor,
		usher.Grant{Feature: "render", Meter: usher.Meter{Consumption: 10, Period: usher.PeriodNone}},
		usher.Grant{Feature: "cad", Seats: 1, Subscription: usher.Subscription{Length: 30 * day, Group: "pro"}})
	lic, err := c.Client(dec).AddLicense(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if lic.ActivatedAt == nil {
		t.Fatal("added license has no activation")
	}
	activated := *lic.ActivatedAt
	req := wire.ConsumeRequest{Feature: "render", Amount: 6, Client: usher.Client{ID: "farm-1"}, ID: "job-1"}
	if _, err := c.Client(dec).Consume(ctx, req); err != nil {
		t.Fatal(err)
	}
	c.Kill(dec)
	other := (dec + 1) % 3
	var res wire.ConsumeResponse
	err = ushertest.RetryUnavailable(30*time.Second, func() (err error) {
		res, err = c.Client(other).Consume(ctx, req)
		return err
	})
	if err != nil || res.Used != 6 {
		t.Fatalf("retry of job-1 after the failover: got %+v, %v; want used 6, counted once", res, err)
	}
	req.ID, req.Amount = "job-2", 5
	if _, err := c.Client(other).Consume(ctx, req); usher.ErrorCode(err) != usher.EConsumptionExhausted {
		t.Fatalf("consume past the limit after the failover: got %v, want %s", err, usher.EConsumptionExhausted)
	}
	second := ushertest.Sign(t, c.Vendor, usher.Grant{Feature: "cad", Seats: 2, Subscription: usher.Subscription{Length: 30 * day, Group: "pro"}})
	if _, err := c.Client(other).AddLicense(ctx, second); err != nil {
		t.Fatal(err)
	}
	features, err := c.Client(other).Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := activated.Add(60*day - time.Second)
	for _, f := range features {
		if f.Name == "cad" && (f.Seats != 2 || f.ExpiresAt == nil || !f.ExpiresAt.Equal(want)) {
			t.Fatalf("got cad %d seats until %v after the second ticket, want 2 until %v (merged with the first)", f.Seats, f.ExpiresAt, want)
		}
	}
}
