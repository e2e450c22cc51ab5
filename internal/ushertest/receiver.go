package ushertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/webhook"
)

// Receiver is a webhook receiver on loopback that refuses the first
// requests (as many as it is told), then takes them, checking each
// signature with Secret (or that there is none, without one).
type Receiver struct {
	*httptest.Server
	Secret string
	mu     sync.Mutex
	refuse int
	got    []webhook.Payload
	ids    []string // Usher-Delivery of every request taken, repeats included
	bad    []string // what was wrong with a request
	hold   bool     // answer no request: keep each until its sender goes away
	held   []string // Usher-Delivery of every request held
}

// StartReceiver starts a receiver on loopback, closed when the test ends.
func StartReceiver(tb testing.TB, secret string, refuse int) *Receiver {
	r := &Receiver{Secret: secret, refuse: refuse}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold {
		r.held = append(r.held, req.Header.Get("Usher-Delivery"))
		r.mu.Unlock()
		<-req.Context().Done() // the sender died or gave up, mid-delivery
		r.mu.Lock()
		return
	}
	if r.refuse > 0 {
		r.refuse--
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	sig := req.Header.Get("Usher-Signature")
	if r.Secret == "" && sig != "" {
		r.bad = append(r.bad, "a signature without a secret: "+sig)
	}
	if err := usher.VerifyWebhook(r.Secret, sig, body, time.Now(), 0); r.Secret != "" && err != nil {
		r.bad = append(r.bad, err.Error())
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Delivery != req.Header.Get("Usher-Delivery") {
		r.bad = append(r.bad, fmt.Sprintf("body %s: %v", body, err))
	}
	r.ids = append(r.ids, p.Delivery)
	if !slices.ContainsFunc(r.got, func(q webhook.Payload) bool { return q.Delivery == p.Delivery }) {
		r.got = append(r.got, p)
	}
}

// SetRefuse makes it refuse the next n requests.
func (r *Receiver) SetRefuse(n int) { r.mu.Lock(); r.refuse = n; r.mu.Unlock() }

// Events returns the events received, deliveries deduplicated by ID.
func (r *Receiver) Events() []eventlog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []eventlog.Record
	for _, p := range r.got {
		out = append(out, p.Events...)
	}
	return out
}

// Payloads returns the deliveries received, each once.
func (r *Receiver) Payloads() []webhook.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Requests returns the Usher-Delivery of every request taken, repeats
// included.
func (r *Receiver) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// Hold makes it answer no request, each kept until its sender goes away
// (killed mid-delivery, or past its timeout), or answer them again.
func (r *Receiver) Hold(hold bool) { r.mu.Lock(); r.hold = hold; r.mu.Unlock() }

// Held returns the Usher-Delivery of every request held.
func (r *Receiver) Held() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.held)
}

// Check fails the test if a request taken had a bad signature or body.
func (r *Receiver) Check(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		tb.Fatalf("the receiver refused requests: %v", r.bad)
	}
}
