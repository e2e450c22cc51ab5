package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestVerifyTakesUshersSignature checks the example's verifier against
// the server's signer, and that it refuses what it must.
func TestVerifyTakesUshersSignature(t *testing.T) {
	now := time.Now()
	body := []byte(`{"delivery":"dlv_1","events":[]}`)
	h := usher.SignWebhook("s3cret", now, body)
	if err := Verify("s3cret", h, body, now, time.Minute); err != nil {
		t.Fatalf("a signature by the server: %v", err)
	}
	for name, err := range map[string]error{
		"other secret": Verify("other", h, body, now, time.Minute),
		"other body":   Verify("s3cret", h, []byte(`{"delivery":"dlv_2"}`), now, time.Minute),
		"replayed":     Verify("s3cret", h, body, now.Add(time.Hour), time.Minute),
		"no header":    Verify("s3cret", "", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: verified, want refused", name)
		}
	}
}

// TestReceivesFromAServer adds the example as a webhook of a real server:
// it prints the lease's events, each once, and refuses a forged delivery.
func TestReceivesFromAServer(t *testing.T) {
	var out ushertest.Buffer
	r := &Receiver{Secret: "s3cret", Tolerance: time.Minute, Out: &out, Now: time.Now}
	hs := httptest.NewServer(r)
	defer hs.Close()
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	ctx := context.Background()
	if _, err := srv.Admin().AddWebhook(ctx, wire.WebhookRequest{URL: hs.URL, Secret: "s3cret", Events: []string{"lease_*"}}); err != nil {
		t.Fatal(err)
	}
	c := srv.Admin()
	l, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "demo", Client: usher.Client{ID: "app", User: "alice", Host: "ws1"}})
	if err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "lease_granted feature=demo lease="+l.ID) {
			return fmt.Errorf("printed %q, want the grant", out.String())
		}
		return nil
	})
	forged, err := http.Post(hs.URL, "application/json", strings.NewReader(`{"delivery":"dlv_x","events":[{"type":"lease_granted"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusUnauthorized {
		t.Errorf("a delivery without a signature: %d, want 401", forged.StatusCode)
	}
	body := []byte(`{"delivery":"dlv_again","events":[{"id":1,"type":"config_changed"}]}`)
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(string(body)))
		req.Header.Set("Usher-Signature", usher.SignWebhook("s3cret", time.Now(), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := strings.Count(out.String(), "config_changed"); n != 1 {
		t.Errorf("a delivery sent twice printed %d times, want once:\n%s", n, out.String())
	}
}

// TestDocsShowThisVerify keeps the Verify that docs/webhooks.md shows the
// one this example runs.
func TestDocsShowThisVerify(t *testing.T) {
	doc, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(doc), "func Verify(")
	end := strings.Index(string(doc)[start:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("docs/webhooks.md shows no func Verify")
	}
	if shown := string(doc)[start : start+end+3]; !strings.Contains(string(src), shown) {
		t.Errorf("docs/webhooks.md shows a Verify that is not the example's:\n%s", shown)
	}
}
