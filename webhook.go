package usher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Webhook delivery modes.
const (
	// WebhookAll delivers every matching event, in order.
	WebhookAll = "all"
	// WebhookBatch delivers, every Interval, all new matching events in
	// one delivery.
	WebhookBatch = "batch"
	// WebhookCurrent delivers only the latest event of each lease,
	// license and feature: superseded events are not sent.
	WebhookCurrent = "current"
)

// Where a webhook was declared.
const (
	WebhookFromConfig = "config" // a [[webhook]] entry of the configuration file
	WebhookFromAPI    = "api"    // usher webhooks add, POST /v1/webhooks
)

// EWebhookNotFound: no webhook (or delivery) has that ID.
const EWebhookNotFound = "webhook_not_found"

// Webhook is an endpoint that receives the server's events over HTTP.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"` // type patterns (path.Match); none means every event
	Secret string   `json:"secret,omitempty"` // signs each delivery; never returned by the API
	// HasSecret says, where Secret is left out, whether one is set.
	HasSecret bool          `json:"has_secret"`
	Mode      string        `json:"mode"`
	Interval  time.Duration `json:"interval,omitempty"` // batch mode: how often
	Source    string        `json:"source"`
	Created   time.Time     `json:"created,omitzero"`
}

// Validate checks a webhook as an admin gives it: an http(s) URL, a known
// mode, an interval for batch mode, patterns that each match one of types.
//
// Errors: EInvalid, naming the field.
func (w *Webhook) Validate(types []string) error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EInvalid, "webhook url %q: give an absolute http:// or https:// URL", w.URL)
	}
	switch w.Mode {
	case "":
		w.Mode = WebhookAll
	case WebhookAll, WebhookBatch, WebhookCurrent:
	default:
		return Errorf(EInvalid, "webhook mode %q: use %s, %s or %s", w.Mode, WebhookAll, WebhookBatch, WebhookCurrent)
	}
	if w.Mode == WebhookBatch && w.Interval <= 0 {
		return Errorf(EInvalid, "webhook mode batch needs an interval, like \"5m\"")
	}
	if w.Interval < 0 {
		return Errorf(EInvalid, "webhook interval %v: must not be negative", w.Interval)
	}
	for _, p := range w.Events {
		if !matchesAny(p, types) {
			return Errorf(EInvalid, "webhook event pattern %q matches no event type: use a type or a pattern like \"lease_*\" (types: %s)",
				p, strings.Join(types, ", "))
		}
	}
	return nil
}

func matchesAny(pattern string, types []string) bool {
	for _, t := range types {
		if ok, err := path.Match(pattern, t); err == nil && ok {
			return true
		}
	}
	return false
}

// EventTypes returns the types among types that the webhook's patterns
// select, or nil (every type) when it has none.
func (w *Webhook) EventTypes(types []string) []string {
	if len(w.Events) == 0 {
		return nil
	}
	var out []string
	for _, t := range types {
		for _, p := range w.Events {
			if ok, _ := path.Match(p, t); ok {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// Redacted returns the webhook without its secret, saying whether it has
// one: what the API shows.
func (w Webhook) Redacted() Webhook {
	w.HasSecret = w.Secret != ""
	w.Secret = ""
	w.Events = append([]string(nil), w.Events...)
	return w
}

// ConfigWebhookID is the ID of a webhook of the configuration file: it
// follows its URL, so that the webhook keeps its place in the outbox
// across restarts and edits of its other fields.
func ConfigWebhookID(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return "whc_" + hex.EncodeToString(sum[:8])
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // not yet acknowledged: sent again until it is
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryDead      = "dead"      // given up: too old, or its events are gone
)

// Delivery is one HTTP request of a webhook's outbox, carrying the events
// with IDs FirstEvent to LastEvent that match it.
type Delivery struct {
	ID          string    `json:"id"`
	Webhook     string    `json:"webhook"`
	FirstEvent  int64     `json:"first_event"`
	LastEvent   int64     `json:"last_event"`
	Events      int       `json:"events"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	Created     time.Time `json:"created"`
	Oldest      time.Time `json:"oldest"` // the time of its oldest event: the age dead_letter_after counts from
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"` // the receiver's last HTTP status
	LastError   string    `json:"last_error,omitempty"`
}

// DeliveryID is the ID of the delivery of a webhook's events first to
// last: the same after a restart or a failover, so that a receiver can
// recognise a delivery it has seen.
func DeliveryID(webhook string, first, last int64) string {
	sum := sha256.Sum256([]byte(webhook + "\x00" + strconv.FormatInt(first, 10) + "\x00" + strconv.FormatInt(last, 10)))
	return "dlv_" + hex.EncodeToString(sum[:12])
}

// SignWebhook returns the Usher-Signature header of a delivery's body sent
// at t: "t=UNIX,v1=HEX" where HEX is the HMAC-SHA256, keyed with the
// secret, of the UNIX time, a dot and the body.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks an Usher-Signature header against the body and
// the secret, and that its time is within tolerance of now (replays of
// old deliveries are refused; 0 skips the check).
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("signature header %q: want t=UNIX,v1=HEX", header)
	}
	want := webhookMAC(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return fmt.Errorf("signature does not match the body: wrong secret, or the body was changed")
	}
	if age := now.Sub(time.Unix(unix, 0)); tolerance > 0 && (age > tolerance || age < -tolerance) {
		return fmt.Errorf("signature time %s is %v away from now: a replay, or a clock off", time.Unix(unix, 0).UTC(), age.Round(time.Second))
	}
	return nil
}

// WebhookBackoff returns how long to wait before attempt n+1 after n
// failed attempts: exponential from base, capped at max, with full jitter
// (a uniform draw up to that bound, r in [0,1)), so that many receivers
// coming back at once are not all hit at the same moment.
func WebhookBackoff(n int, base, max time.Duration, r float64) time.Duration {
	bound := max
	if n < 62 && base<<n > 0 && base<<n < max {
		bound = base << n
	}
	return time.Duration(float64(bound) * r)
}

// Jitter returns a uniform draw in [0,1) for WebhookBackoff.
func Jitter() float64 { return rand.Float64() }

// CurrentKey is what an event tells the state of, for webhooks of mode
// current: a lease, a license, a feature, or else the event's type. Only
// the latest event of each key is delivered.
func CurrentKey(ev Event) string {
	switch {
	case ev.LeaseID != "":
		return "lease:" + ev.LeaseID
	case ev.LicenseID != "":
		return "license:" + ev.LicenseID
	case ev.Feature != "":
		return "feature:" + ev.Feature
	}
	return "type:" + ev.Type
}
