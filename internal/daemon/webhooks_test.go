package daemon_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/config"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// waitGranted waits until the receiver has the grant of a lease to each
// client, and returns the grants it has, in the order received.
func waitGranted(t *testing.T, recv *ushertest.Receiver, clients ...string) []eventlog.Record {
	t.Helper()
	var got []eventlog.Record
	ushertest.WaitFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		got = got[:0]
		var ids []string
		for _, e := range recv.Events() {
			if e.Type == usher.EventLeaseGranted {
				got, ids = append(got, e), append(ids, e.Client.ID)
			}
		}
		for _, c := range clients {
			if !slices.Contains(ids, c) {
				return fmt.Errorf("the receiver has grants to %v, want %s too", ids, c)
			}
		}
		return nil
	})
	return got
}

// TestWebhooksOfConfigAndAPI: a [[webhook]] of the configuration and one
// added over the API both receive the ledger's events, signed; both are
// listed, without their secrets; only the API's can be removed.
func TestWebhooksOfConfigAndAPI(t *testing.T) {
	ctx := context.Background()
	fromFile := ushertest.StartReceiver(t, "file-secret", 0)
	fromAPI := ushertest.StartReceiver(t, "api-secret", 0)
	cfg := devConfig(t, t.TempDir())
	cfg.Webhooks = []config.WebhookEntry{{URL: fromFile.URL, Secret: "file-secret"}}
	_, c := MustStart(t, cfg, daemon.Options{})
	added, err := c.AddWebhook(ctx, wire.WebhookRequest{URL: fromAPI.URL, Events: []string{"lease_*"}, Secret: "api-secret"})
	if err != nil || added.Source != usher.WebhookFromAPI || !added.HasSecret || added.Mode != usher.WebhookAll {
		t.Fatalf("add: got %+v, %v", added, err)
	}
	// The configuration's webhook starts at the end of the log when the
	// server starts delivering: wait until it gets a probe's events.
	probe := 0
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		probe++
		l := checkout(t, c, fmt.Sprint("probe-", probe), "alice")
		if err := c.Release(ctx, l.ID); err != nil {
			return err
		}
		if len(fromFile.Events()) == 0 {
			return fmt.Errorf("the configuration's webhook has received nothing yet")
		}
		return nil
	})
	for i := range 3 {
		l := checkout(t, c, fmt.Sprint("app-", i), "alice")
		if err := c.Release(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	waitGranted(t, fromFile, "app-0", "app-1", "app-2")
	got := waitGranted(t, fromAPI, "app-0", "app-1", "app-2")
	for _, e := range fromAPI.Events() {
		if !strings.HasPrefix(e.Type, "lease_") {
			t.Errorf("the API's webhook got %s, want only lease events", e.Type)
		}
	}
	if got := got[len(got)-3:]; got[0].Client.ID != "app-0" || got[2].Client.ID != "app-2" || got[0].ID >= got[2].ID {
		t.Errorf("events out of order: %+v", got)
	}
	fromFile.Check(t)
	fromAPI.Check(t)

	hooks, err := c.Webhooks(ctx)
	if err != nil || len(hooks) != 2 || hooks[0].Source != usher.WebhookFromConfig || !hooks[0].HasSecret || hooks[1].ID != added.ID {
		t.Fatalf("list: got %+v, %v", hooks, err)
	}
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		// The latest may still be in flight: the kicks came after the grants.
		log, err := c.WebhookLog(ctx, hooks[0].ID, 100)
		if err != nil || len(log) == 0 || log[0].Status != usher.DeliveryDelivered {
			return fmt.Errorf("log of the configuration's webhook: %+v, %v; want the latest delivered", log, err)
		}
		return nil
	})
	if err := c.RemoveWebhook(ctx, hooks[0].ID); usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), "configuration file") {
		t.Errorf("remove the configuration's webhook: got %v, want %s saying to edit the file", err, usher.EInvalid)
	}
	if err := c.RemoveWebhook(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveWebhook(ctx, added.ID); usher.ErrorCode(err) != usher.EWebhookNotFound {
		t.Errorf("remove twice: got %v, want %s", err, usher.EWebhookNotFound)
	}
}

// TestAddWebhookRefusesBadInput: each bad field is refused with
// invalid_request, and nothing is added.
func TestAddWebhookRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{})
	for _, req := range []wire.WebhookRequest{
		{URL: "not a url"},
		{URL: "ftp://example.com/"},
		{URL: "http://example.com/", Mode: "often"},
		{URL: "http://example.com/", Mode: usher.WebhookBatch},
		{URL: "http://example.com/", Mode: usher.WebhookBatch, Interval: "soon"},
		{URL: "http://example.com/", Events: []string{"[bad"}},
		{URL: "http://example.com/", Events: []string{"no_such_event"}},
	} {
		if _, err := c.AddWebhook(ctx, req); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%+v: got %v, want %s", req, err, usher.EInvalid)
		}
	}
	if hooks, err := c.Webhooks(ctx); err != nil || len(hooks) != 0 {
		t.Errorf("after refusals: %+v, %v; want none", hooks, err)
	}
}

// TestWebhookClusterFailover: a cluster's outbox is in etcd and only the
// deciding node delivers. The decider is killed in the middle of a
// delivery (sent, not answered); the next decider sends the same
// delivery, with the same ID, and goes on: every event arrives, in order.
func TestWebhookClusterFailover(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	c.AddLicense(dec, "cad", 100)
	recv := ushertest.StartReceiver(t, "s", 0)
	recv.Hold(true)
	_, err := c.Client(dec).AddWebhook(ctx, wire.WebhookRequest{URL: recv.URL, Events: []string{usher.EventLeaseGranted}, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	// The webhook starts at the end of the log: wait for its cursor.
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := clusterCheckout(ctx, c.Client(dec), "cad", fmt.Sprint("probe-", time.Now().UnixNano())); err != nil {
			return err
		}
		if len(recv.Held()) == 0 {
			return fmt.Errorf("no delivery in flight yet")
		}
		return nil
	})
	for i := range 3 {
		if _, err := clusterCheckout(ctx, c.Client(dec), "cad", fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Events are stored within a few milliseconds; a crash loses those
	// not stored yet, which no webhook can deliver then.
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		evs, err := c.Client(dec).Events(ctx, wire.EventsQuery{Type: usher.EventLeaseGranted, Limit: 1})
		if err != nil || len(evs) == 0 || evs[0].Client.ID != "before-2" {
			return fmt.Errorf("the latest grant stored: %+v, %v; want before-2's", evs, err)
		}
		return nil
	})
	inFlight := recv.Held()[0]
	c.Kill(dec)
	recv.Hold(false)
	other := (dec + 1) % 3
	for i := range 2 {
		err := ushertest.RetryUnavailable(30*time.Second, func() error {
			_, err := clusterCheckout(ctx, c.Client(other), "cad", fmt.Sprint("after-", i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var clients []string
	for _, e := range waitGranted(t, recv, "before-0", "before-1", "before-2", "after-0", "after-1") {
		clients = append(clients, e.Client.ID)
	}
	if n := len(clients); !slices.Equal(clients[n-5:], []string{"before-0", "before-1", "before-2", "after-0", "after-1"}) {
		t.Errorf("received grants to %v, want them in order", clients)
	}
	var ids []int64
	for _, e := range recv.Events() {
		ids = append(ids, e.ID)
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("event ids %v: want each once, in order", ids)
	}
	if p := recv.Payloads(); p[0].Delivery != inFlight {
		t.Errorf("the first delivery taken is %s, want %s: the one in flight when the decider died", p[0].Delivery, inFlight)
	}
	recv.Check(t)
}
