package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/webhook"
)

// WebhookFactory creates an empty backing medium for one test and returns
// a function that opens a webhook.Store on it. Each call reopens the same
// data; the suite closes a store (if it is an io.Closer) before reopening.
type WebhookFactory func(t *testing.T) (open func() webhook.Store)

// RunWebhooks runs the conformance suite of webhook outboxes against the
// stores that newStore makes.
func RunWebhooks(t *testing.T, newStore WebhookFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() webhook.Store)
	}{
		{"WebhookRoundTrip", testWebhookRoundTrip},
		{"CursorMovesOnlyForward", testCursorForward},
		{"PendingDeliveries", testPendingDeliveries},
		{"DeleteWebhookTakesItsOutbox", testDeleteWebhookOutbox},
		{"PruneKeepsPending", testPruneKeepsPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var whT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func openWebhooks(t *testing.T, open func() webhook.Store) webhook.Store {
	t.Helper()
	s := open()
	t.Cleanup(func() { closeAny(t, s) })
	return s
}

func reopenWebhooks(t *testing.T, s webhook.Store, open func() webhook.Store) webhook.Store {
	t.Helper()
	closeAny(t, s)
	return openWebhooks(t, open)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testWebhookRoundTrip(t *testing.T, open func() webhook.Store) {
	ctx := context.Background()
	s := openWebhooks(t, open)
	w := usher.Webhook{ID: "wh_1", URL: "https://example.com/hook", Events: []string{"lease_*"}, Secret: "s3",
		Mode: usher.WebhookBatch, Interval: time.Minute, Source: usher.WebhookFromAPI, Created: whT0}
	must(t, s.PutWebhook(ctx, w))
	must(t, s.PutWebhook(ctx, usher.Webhook{ID: "wh_2", URL: "http://127.0.0.1:1/", Mode: usher.WebhookAll}))
	s = reopenWebhooks(t, s, open)
	got, err := s.Webhooks(ctx)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("got %d webhooks, want 2: %+v", len(got), got)
	}
	i := slices.IndexFunc(got, func(x usher.Webhook) bool { return x.ID == "wh_1" })
	if i < 0 || got[i].URL != w.URL || !slices.Equal(got[i].Events, w.Events) || got[i].Secret != w.Secret ||
		got[i].Mode != w.Mode || got[i].Interval != w.Interval || !got[i].Created.Equal(w.Created) {
		t.Fatalf("got %+v, want %+v", got, w)
	}
}

func delivery(webhook string, first, last int64, status string, created time.Time) usher.Delivery {
	return usher.Delivery{ID: usher.DeliveryID(webhook, first, last), Webhook: webhook, FirstEvent: first, LastEvent: last,
		Events: int(last - first + 1), Status: status, Created: created, Oldest: created}
}

func cursor(t *testing.T, s webhook.Store, id string) (int64, bool) {
	t.Helper()
	n, ok, err := s.Cursor(context.Background(), id)
	must(t, err)
	return n, ok
}

func testCursorForward(t *testing.T, open func() webhook.Store) {
	ctx := context.Background()
	s := openWebhooks(t, open)
	if _, ok := cursor(t, s, "wh_1"); ok {
		t.Fatal("a cursor before any was set")
	}
	must(t, s.SetCursor(ctx, "wh_1", 9))
	must(t, s.PutDelivery(ctx, delivery("wh_1", 10, 12, usher.DeliveryPending, whT0)))
	if n, _ := cursor(t, s, "wh_1"); n != 9 {
		t.Fatalf("cursor after a pending delivery: %d, want 9", n)
	}
	must(t, s.PutDelivery(ctx, delivery("wh_1", 10, 12, usher.DeliveryDelivered, whT0)))
	if n, _ := cursor(t, s, "wh_1"); n != 12 {
		t.Fatalf("cursor after a delivery: %d, want 12", n)
	}
	// An old delivery delivered again by hand does not move it back.
	must(t, s.PutDelivery(ctx, delivery("wh_1", 1, 5, usher.DeliveryDelivered, whT0)))
	must(t, s.PutDelivery(ctx, delivery("wh_2", 1, 100, usher.DeliveryDead, whT0)))
	s = reopenWebhooks(t, s, open)
	if n, _ := cursor(t, s, "wh_1"); n != 12 {
		t.Fatalf("cursor after an older delivery: %d, want 12", n)
	}
	if n, ok := cursor(t, s, "wh_2"); n != 100 || !ok {
		t.Fatalf("cursor set by a dead delivery: %d, %v; want 100", n, ok)
	}
}

func testPendingDeliveries(t *testing.T, open func() webhook.Store) {
	ctx := context.Background()
	s := openWebhooks(t, open)
	a := delivery("wh_1", 1, 5, usher.DeliveryPending, whT0)
	b := delivery("wh_1", 6, 7, usher.DeliveryPending, whT0)
	must(t, s.PutDelivery(ctx, a))
	must(t, s.PutDelivery(ctx, b))
	must(t, s.PutDelivery(ctx, delivery("wh_2", 6, 7, usher.DeliveryPending, whT0)))
	a.Status, a.Attempts, a.LastError = usher.DeliveryDelivered, 3, "refused"
	must(t, s.PutDelivery(ctx, a))
	s = reopenWebhooks(t, s, open)
	pend, err := s.Deliveries(ctx, "wh_1", true, 0)
	must(t, err)
	if len(pend) != 1 || pend[0].ID != b.ID {
		t.Fatalf("pending: got %+v, want only %s", pend, b.ID)
	}
	all, err := s.Deliveries(ctx, "wh_1", false, 0)
	must(t, err)
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID || all[1].Attempts != 3 || all[1].LastError != "refused" {
		t.Fatalf("all, latest first: got %+v", all)
	}
	if one, err := s.Deliveries(ctx, "wh_1", false, 1); err != nil || len(one) != 1 || one[0].ID != b.ID {
		t.Fatalf("limit 1: got %+v, %v", one, err)
	}
	got, ok, err := s.Delivery(ctx, a.ID)
	if err != nil || !ok || got.Status != usher.DeliveryDelivered || got.Webhook != "wh_1" {
		t.Fatalf("Delivery(%s): got %+v, %v, %v", a.ID, got, ok, err)
	}
	if _, ok, err := s.Delivery(ctx, "dlv_missing"); ok || err != nil {
		t.Fatalf("a missing delivery: got %v, %v", ok, err)
	}
}

func testDeleteWebhookOutbox(t *testing.T, open func() webhook.Store) {
	ctx := context.Background()
	s := openWebhooks(t, open)
	must(t, s.PutWebhook(ctx, usher.Webhook{ID: "wh_1", URL: "http://127.0.0.1:1/", Mode: usher.WebhookAll}))
	must(t, s.PutWebhook(ctx, usher.Webhook{ID: "wh_2", URL: "http://127.0.0.1:2/", Mode: usher.WebhookAll}))
	must(t, s.SetCursor(ctx, "wh_1", 3))
	must(t, s.PutDelivery(ctx, delivery("wh_1", 4, 5, usher.DeliveryPending, whT0)))
	must(t, s.PutDelivery(ctx, delivery("wh_2", 4, 5, usher.DeliveryPending, whT0)))
	if ok, err := s.DeleteWebhook(ctx, "wh_1"); !ok || err != nil {
		t.Fatalf("delete: got %v, %v", ok, err)
	}
	if ok, err := s.DeleteWebhook(ctx, "wh_1"); ok || err != nil {
		t.Fatalf("delete again: got %v, %v; want false", ok, err)
	}
	if _, ok := cursor(t, s, "wh_1"); ok {
		t.Error("the cursor outlived its webhook")
	}
	if got, _ := s.Deliveries(ctx, "wh_1", false, 0); len(got) != 0 {
		t.Errorf("deliveries outlived their webhook: %+v", got)
	}
	if got, _ := s.Deliveries(ctx, "wh_2", true, 0); len(got) != 1 {
		t.Errorf("the other webhook's deliveries: %+v", got)
	}
}

func testPruneKeepsPending(t *testing.T, open func() webhook.Store) {
	ctx := context.Background()
	s := openWebhooks(t, open)
	must(t, s.PutDelivery(ctx, delivery("wh_1", 1, 1, usher.DeliveryDelivered, whT0)))
	must(t, s.PutDelivery(ctx, delivery("wh_1", 2, 2, usher.DeliveryPending, whT0)))
	must(t, s.PutDelivery(ctx, delivery("wh_1", 3, 3, usher.DeliveryDead, whT0.Add(2*time.Hour))))
	for i := int64(10); i < 14; i++ {
		must(t, s.PutDelivery(ctx, delivery("wh_2", i, i, usher.DeliveryDelivered, whT0.Add(2*time.Hour))))
	}
	must(t, s.PruneDeliveries(ctx, whT0.Add(time.Hour), 2))
	got, err := s.Deliveries(ctx, "wh_1", false, 0)
	must(t, err)
	if len(got) != 2 || got[0].LastEvent != 3 || got[1].LastEvent != 2 {
		t.Fatalf("after pruning: got %+v, want the pending one and the newer one", got)
	}
	got, err = s.Deliveries(ctx, "wh_2", false, 0)
	must(t, err)
	if len(got) != 2 || got[0].LastEvent != 13 || got[1].LastEvent != 12 {
		t.Fatalf("after pruning to 2 per webhook: got %+v, want the latest 2", got)
	}
}
