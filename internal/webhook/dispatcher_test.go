package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/webhook"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = eventlogtest.T0

// rig is an event log and an outbox in a data directory, with a clock.
type rig struct {
	t     *testing.T
	clk   *ushertest.Clock
	log   *eventlog.Log
	store *sqlite.Webhooks
	hooks []usher.Webhook
	d     *webhook.Dispatcher
}

func newRig(t *testing.T, hooks ...usher.Webhook) *rig {
	dir := t.TempDir()
	clk := ushertest.NewClock(t0)
	l := eventlogtest.OpenSQLite(t, dir, clk)
	s, err := sqlite.OpenWebhooks(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{t: t, clk: clk, log: l, store: s, hooks: hooks}
	r.d = webhook.NewDispatcher(webhook.Options{Store: s, Events: l, Now: clk.Now, Config: func() []usher.Webhook { return r.hooks },
		Jitter: func() float64 { return 1 }, MaxBackoff: time.Minute, DeadLetterAfter: time.Hour})
	r.cycle() // each webhook starts at the end of the log
	return r
}

func (r *rig) record(n int, typ string) {
	for i := range n {
		r.log.Record(usher.Event{Type: typ, Feature: "cad", LeaseID: fmt.Sprintf("ls_%d", i%3), Reason: fmt.Sprint(i)})
	}
	eventlogtest.MustSync(r.t, r.log)
}

func (r *rig) cycle() {
	r.t.Helper()
	if err := r.d.Cycle(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func hook(url, mode string) usher.Webhook {
	return usher.Webhook{ID: usher.ConfigWebhookID(url), URL: url, Mode: mode, Secret: "s3cret", Source: usher.WebhookFromConfig}
}

func reasons(recs []eventlog.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Reason)
	}
	return out
}

func seq(n int) []string {
	out := []string{}
	for i := range n {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// TestRefusingReceiverGetsEverythingInOrder: a receiver that refuses for a
// while, then takes them, gets every event once, in order, after back-off.
func TestRefusingReceiverGetsEverythingInOrder(t *testing.T) {
	recv := ushertest.StartReceiver(t, "s3cret", 5)
	r := newRig(t, hook(recv.URL, usher.WebhookAll))
	r.record(1200, eventlog.EventConfigChanged)
	for i := 0; i < 5; i++ {
		r.cycle() // refused: the next attempt waits
		r.cycle() // too early: nothing sent
		r.clk.Advance(time.Minute)
	}
	r.cycle()
	recv.Check(t)
	if got := reasons(recv.Events()); !slices.Equal(got, seq(1200)) {
		t.Fatalf("received %v, want 0..1199 in order", got)
	}
	log, err := r.store.Deliveries(context.Background(), r.hooks[0].ID, false, 0)
	if err != nil || len(log) != 3 || log[2].Attempts != 6 || log[2].Status != usher.DeliveryDelivered || log[0].Events != 200 {
		t.Fatalf("delivery log: %+v, %v; want 3 deliveries (500, 500, 200 events), the first after 6 attempts", log, err)
	}
	if recv.Requests()[0] != log[2].ID {
		t.Errorf("the first delivery went out as %s, logged as %s", recv.Requests()[0], log[2].ID)
	}
}

// TestBackoffIsExponentialAndCapped checks the waits between attempts.
func TestBackoffIsExponentialAndCapped(t *testing.T) {
	var got []time.Duration
	for n := range 9 {
		got = append(got, usher.WebhookBackoff(n, time.Second, time.Minute, 1))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("back-off bounds %v, want %v seconds", got, want)
		}
	}
	if d := usher.WebhookBackoff(100, time.Second, time.Minute, 0.5); d != 30*time.Second {
		t.Errorf("half jitter at the cap: %v, want 30s", d)
	}
}

// TestSignature checks the header against the documented recipe and
// that a changed body, a wrong secret or an old time are refused.
func TestSignature(t *testing.T) {
	at := time.Unix(1764583200, 0)
	body := []byte(`{"delivery":"dlv_1"}`)
	h := usher.SignWebhook("s3cret", at, body)
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write([]byte("1764583200." + string(body)))
	if want := "t=1764583200,v1=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("header %q, want %q", h, want)
	}
	if err := usher.VerifyWebhook("s3cret", h, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for name, err := range map[string]error{
		"changed body": usher.VerifyWebhook("s3cret", h, []byte(`{"delivery":"dlv_2"}`), at, 0),
		"wrong secret": usher.VerifyWebhook("other", h, body, at, 0),
		"too old":      usher.VerifyWebhook("s3cret", h, body, at.Add(time.Hour), 5*time.Minute),
		"no signature": usher.VerifyWebhook("s3cret", "", body, at, 0),
	} {
		if err == nil {
			t.Errorf("%s: verified, want an error", name)
		}
	}
}

// TestBatchMode: one delivery per interval with every event since the
// last.
func TestBatchMode(t *testing.T) {
	recv := ushertest.StartReceiver(t, "s3cret", 0)
	w := hook(recv.URL, usher.WebhookBatch)
	w.Interval = 5 * time.Minute
	r := newRig(t, w)
	r.record(150, eventlog.EventConfigChanged)
	r.cycle()
	r.record(30, eventlog.EventConfigChanged)
	r.cycle() // within the interval: nothing
	r.clk.Advance(4 * time.Minute)
	r.cycle()
	if n := len(recv.Payloads()); n != 1 {
		t.Fatalf("%d deliveries within the interval, want 1", n)
	}
	r.clk.Advance(time.Minute)
	r.cycle()
	p := recv.Payloads()
	if len(p) != 2 || len(p[0].Events) != 150 || len(p[1].Events) != 30 || p[1].Mode != usher.WebhookBatch {
		t.Fatalf("got %d deliveries, want 2 of 150 and 30 events", len(p))
	}
	recv.Check(t)
}

// TestCurrentMode: only the latest event of each lease is sent; a
// receiver down for a while gets the current state, not the history.
func TestCurrentMode(t *testing.T) {
	recv := ushertest.StartReceiver(t, "s3cret", 1)
	r := newRig(t, hook(recv.URL, usher.WebhookCurrent))
	r.record(30, usher.EventLeaseGranted) // leases ls_0, ls_1, ls_2, ten events each
	r.log.Record(usher.Event{Type: eventlog.EventServerStarted})
	eventlogtest.MustSync(t, r.log)
	r.cycle() // refused
	r.clk.Advance(time.Minute)
	r.cycle()
	if got := reasons(recv.Events()); !slices.Equal(got, []string{"27", "28", "29", ""}) {
		t.Fatalf("received %v, want the latest event of each lease and the server's", got)
	}
}

// TestEventPatterns: only the types the patterns select are sent.
func TestEventPatterns(t *testing.T) {
	recv := ushertest.StartReceiver(t, "", 0)
	w := hook(recv.URL, usher.WebhookAll)
	w.Secret, w.Events = "", []string{"lease_*"}
	r := newRig(t, w)
	r.record(2, eventlog.EventConfigChanged)
	r.record(3, usher.EventLeaseReleased)
	r.cycle()
	recv.Check(t)
	for _, e := range recv.Events() {
		if e.Type != usher.EventLeaseReleased {
			t.Fatalf("received %+v, want only lease events", e)
		}
	}
	if n := len(recv.Events()); n != 3 {
		t.Fatalf("received %d events, want 3", n)
	}
}

// TestDeadLetterAndRedeliver: a delivery still refused past
// dead_letter_after is given up, the outbox goes on, and an admin sends
// it again by hand, with its ID.
func TestDeadLetterAndRedeliver(t *testing.T) {
	recv := ushertest.StartReceiver(t, "s3cret", 1000)
	r := newRig(t, hook(recv.URL, usher.WebhookAll))
	r.record(3, eventlog.EventConfigChanged)
	for range 70 {
		r.cycle()
		r.clk.Advance(time.Minute)
	}
	ctx := context.Background()
	log, _ := r.store.Deliveries(ctx, r.hooks[0].ID, false, 0)
	if len(log) != 1 || log[0].Status != usher.DeliveryDead || log[0].LastStatus != http.StatusServiceUnavailable {
		t.Fatalf("after an hour of refusals: %+v, want one dead delivery", log)
	}
	recv.SetRefuse(0)
	r.record(2, eventlog.EventLoginFailed)
	r.cycle()
	if got := reasons(recv.Events()); !slices.Equal(got, seq(2)) {
		t.Fatalf("after the dead one: received %v, want the new events", got)
	}
	admin := &webhook.Admin{Store: r.store, Events: r.log, Config: func() []usher.Webhook { return r.hooks }, Now: r.clk.Now}
	if _, err := admin.Redeliver(ctx, log[0].ID); err != nil {
		t.Fatal(err)
	}
	r.cycle()
	p := recv.Payloads()
	if len(p) != 2 || p[1].Delivery != log[0].ID || len(p[1].Events) != 3 {
		t.Fatalf("after redelivery: %+v, want the dead delivery again", p)
	}
	if _, err := admin.Redeliver(ctx, "dlv_nope"); usher.ErrorCode(err) != usher.EWebhookNotFound {
		t.Errorf("redeliver a missing one: %v, want %s", err, usher.EWebhookNotFound)
	}
	recv.Check(t)
}

// TestPrunedEventsAreDeadLettered: events deleted by retention before the
// receiver took them make the delivery dead, said in the log.
func TestPrunedEventsAreDeadLettered(t *testing.T) {
	recv := ushertest.StartReceiver(t, "s3cret", 1)
	r := newRig(t, hook(recv.URL, usher.WebhookAll))
	r.record(3, eventlog.EventConfigChanged)
	r.cycle() // refused
	r.log.SetRetention(time.Minute, 0)
	r.clk.Advance(time.Hour)
	if err := r.log.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.cycle()
	log, _ := r.store.Deliveries(context.Background(), r.hooks[0].ID, false, 0)
	if len(log) != 1 || log[0].Status != usher.DeliveryDead || log[0].LastError == "" {
		t.Fatalf("delivery log: %+v, want one dead delivery saying why", log)
	}
}

// TestRedirectIsAFailedAttempt: a redirect is not followed (it would send
// the events as a GET) and counts as a failed attempt.
func TestRedirectIsAFailedAttempt(t *testing.T) {
	moved := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/", http.StatusFound))
	defer moved.Close()
	r := newRig(t, hook(moved.URL, usher.WebhookAll))
	r.record(1, eventlog.EventConfigChanged)
	r.cycle()
	log, _ := r.store.Deliveries(context.Background(), r.hooks[0].ID, false, 0)
	if len(log) != 1 || log[0].Status != usher.DeliveryPending || log[0].LastStatus != http.StatusFound || log[0].NextAttempt.IsZero() {
		t.Fatalf("delivery log: %+v, want one pending delivery after a 302", log)
	}
}
