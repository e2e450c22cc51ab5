package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestWebhookSurvivesKillNine kills the server with SIGKILL while a
// delivery is in flight (sent, not answered): after a restart the same
// delivery, with the same ID, is sent again and every event arrives, in
// order; none is lost.
func TestWebhookSurvivesKillNine(t *testing.T) {
	ctx := context.Background()
	dir, pub, lic := vendorFixture(t, "cad=100")
	data := filepath.Join(dir, "data")
	secret := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	mustCLI(t, env, "license", "add", lic, "--data", data)
	recv := ushertest.StartReceiver(t, "s3cret", 0)
	recv.Hold(true)
	out := mustCLI(t, env, "webhooks", "add", recv.URL, "--events", "lease_granted", "--secret-file", secret, "--data", data)
	id := regexp.MustCompile(`wh_[0-9a-f]+`).FindString(out)
	if id == "" {
		t.Fatalf("webhooks add printed %q, want the webhook's ID", out)
	}
	checkouts := func(c *apiclient.Client, prefix string, n int) {
		for i := range n {
			_, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint(prefix, i)}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	token := strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token")))
	c := apiclient.MustNew(p.url, token)
	checkouts(c, "before-", 5)
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, ushertest.Until("a delivery in flight", func() bool {
		return len(recv.Held()) > 0
	}))
	// The delivery in flight holds the first grants; wait until the last
	// one is stored too, then kill.
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		evs, err := c.Events(ctx, wire.EventsQuery{Type: usher.EventLeaseGranted, Limit: 1})
		if err != nil || len(evs) == 0 || evs[0].Client.ID != "before-4" {
			return fmt.Errorf("latest grant stored: %+v, %v", evs, err)
		}
		return nil
	})
	c.Close()
	p.kill9(t)
	inFlight := recv.Held()[0]
	recv.Hold(false)

	p = startServerProc(t, "--data", data, "--vendor-key", pub)
	env = func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	c = apiclient.MustNew(p.url, token)
	defer c.Close()
	checkouts(c, "after-", 3)
	want := []string{"before-0", "before-1", "before-2", "before-3", "before-4", "after-0", "after-1", "after-2"}
	ushertest.WaitFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var got []string
		for _, e := range recv.Events() {
			got = append(got, e.Client.ID)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("received grants to %v, want %v", got, want)
		}
		return nil
	})
	recv.Check(t)
	if p := recv.Payloads(); p[0].Delivery != inFlight {
		t.Errorf("first delivery taken: %s, want %s, the one in flight at the kill", p[0].Delivery, inFlight)
	}
	log := mustCLI(t, env, "webhooks", "log", id, "--data", data)
	if !strings.Contains(log, inFlight) || !strings.Contains(log, "delivered") {
		t.Errorf("webhooks log:\n%s\nwant %s delivered", log, inFlight)
	}
	list := mustCLI(t, env, "webhooks", "list", "--data", data)
	if !strings.Contains(list, id) || !strings.Contains(list, "set") || strings.Contains(list, "s3cret") {
		t.Errorf("webhooks list:\n%s\nwant %s with its secret set, not shown", list, id)
	}
	mustCLI(t, env, "webhooks", "redeliver", inFlight, "--data", data)
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, ushertest.Until("the redelivery", func() bool {
		return len(slices.DeleteFunc(recv.Requests(), func(s string) bool { return s != inFlight })) >= 2
	}))
	mustCLI(t, env, "webhooks", "remove", id, "--data", data)
	if code, _, errOut := runCLI(t, env, "webhooks", "remove", id, "--data", data); code == 0 || !strings.Contains(errOut, "webhooks list") {
		t.Errorf("remove twice: exit %d, %q; want an error pointing to webhooks list", code, errOut)
	}
}
