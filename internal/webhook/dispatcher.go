package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// Defaults.
const (
	DefaultPoll            = time.Second      // how often the outbox looks for new events
	DefaultMaxBackoff      = time.Hour        // the longest wait between two attempts
	DefaultDeadLetterAfter = 72 * time.Hour   // events not delivered within this of their time are given up
	DefaultTimeout         = 10 * time.Second // one request to a receiver
	DefaultLogRetention    = 30 * 24 * time.Hour
	baseBackoff            = time.Second
	allBatch               = 500  // events per delivery in mode all
	perCycle               = 1000 // deliveries per endpoint per cycle: a bound, as the cycle waits for every endpoint
	pruneEvery             = time.Minute
	logKeep                = 1000 // deliveries done kept per webhook, at most
)

// Events is where the dispatcher reads events: the event log.
type Events interface {
	Query(ctx context.Context, f eventlog.Filter) ([]eventlog.Record, error)
}

// Options configure a Dispatcher. Store and Events are required.
type Options struct {
	Store           Store
	Events          Events
	Config          func() []usher.Webhook // the webhooks of the configuration file, validated
	Client          *http.Client           // default: one with DefaultTimeout
	Now             func() time.Time
	Logger          *slog.Logger
	Poll            time.Duration
	MaxBackoff      time.Duration
	DeadLetterAfter time.Duration
	LogRetention    time.Duration  // deliveries done are kept this long; default DefaultLogRetention
	Jitter          func() float64 // default usher.Jitter
	UserAgent       string
}

// Dispatcher delivers the outbox of every webhook. Run it only where the
// cluster decides, for the length of the term.
type Dispatcher struct {
	o         Options
	mu        sync.Mutex
	lastBatch map[string]time.Time // batch mode: when the webhook's last batch was made
	lastPrune time.Time
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(o Options) *Dispatcher {
	if o.Client == nil {
		// A redirect is not followed: it would turn the POST into a GET.
		// It counts as a failed attempt, shown in the delivery log.
		o.Client = &http.Client{Timeout: DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Config == nil {
		o.Config = func() []usher.Webhook { return nil }
	}
	o.Poll = cmpOr(o.Poll, DefaultPoll)
	o.MaxBackoff = cmpOr(o.MaxBackoff, DefaultMaxBackoff)
	o.DeadLetterAfter = cmpOr(o.DeadLetterAfter, DefaultDeadLetterAfter)
	o.LogRetention = cmpOr(o.LogRetention, DefaultLogRetention)
	if o.Jitter == nil {
		o.Jitter = usher.Jitter
	}
	if o.UserAgent == "" {
		o.UserAgent = "Usher-Webhook"
	}
	return &Dispatcher{o: o, lastBatch: make(map[string]time.Time)}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run delivers every Poll until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		if err := d.Cycle(ctx); err != nil && ctx.Err() == nil {
			d.o.Logger.Warn("webhooks: list the webhooks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Cycle does what is due now for every webhook, the webhooks side by
// side, and returns when done.
func (d *Dispatcher) Cycle(ctx context.Context) error {
	hooks, err := d.o.Store.Webhooks(ctx)
	if err != nil {
		return err
	}
	hooks = append(d.o.Config(), hooks...)
	var wg sync.WaitGroup
	for _, w := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.serve(ctx, w); err != nil && ctx.Err() == nil {
				d.o.Logger.Warn("webhooks: outbox", "webhook", w.ID, "err", err)
			}
		}()
	}
	wg.Wait()
	d.prune(ctx)
	return nil
}

// prune deletes old deliveries from the log, at most once a minute.
func (d *Dispatcher) prune(ctx context.Context) {
	now := d.o.Now()
	if now.Sub(d.lastPrune) < pruneEvery {
		return
	}
	d.lastPrune = now
	if err := d.o.Store.PruneDeliveries(ctx, now.Add(-d.o.LogRetention), logKeep); err != nil {
		d.o.Logger.Warn("webhooks: prune the delivery log", "err", err)
	}
}

// serve sends the webhook's due deliveries, in order, until one fails or
// none is due: the pending ones, oldest first, then new ones of the
// events after the cursor.
func (d *Dispatcher) serve(ctx context.Context, w usher.Webhook) error {
	pend, err := d.o.Store.Deliveries(ctx, w.ID, true, 0)
	if err != nil {
		return err
	}
	for i := len(pend) - 1; i >= 0; i-- {
		if d.o.Now().Before(pend[i].NextAttempt) {
			return nil
		}
		if err := d.attempt(ctx, w, &pend[i], nil); err != nil || pend[i].Status == usher.DeliveryPending {
			return err
		}
	}
	after, ok, err := d.o.Store.Cursor(ctx, w.ID)
	if err != nil || !ok {
		if err == nil { // a new webhook starts with the events to come
			err = d.startCursor(ctx, w)
		}
		return err
	}
	if w.Mode == usher.WebhookBatch && !d.batchDue(w) {
		return nil
	}
	for range perCycle {
		del, recs, err := d.open(ctx, w, after)
		if err != nil || len(recs) == 0 {
			return err
		}
		if err := d.attempt(ctx, w, &del, recs); err != nil || del.Status == usher.DeliveryPending {
			return err
		}
		after = del.LastEvent
	}
	return nil
}

// startCursor sets a new webhook's cursor at the latest event.
func (d *Dispatcher) startCursor(ctx context.Context, w usher.Webhook) error {
	latest, err := d.o.Events.Query(ctx, eventlog.Filter{Limit: 1})
	if err != nil {
		return err
	}
	return d.o.Store.SetCursor(ctx, w.ID, last(latest).ID)
}

// open makes and stores a pending delivery of the webhook's first events
// after an ID, and returns it with its events; none when there are none.
func (d *Dispatcher) open(ctx context.Context, w usher.Webhook, after int64) (usher.Delivery, []eventlog.Record, error) {
	limit := eventlog.MaxLimit
	if w.Mode == usher.WebhookAll {
		limit = allBatch
	}
	recs, err := d.o.Events.Query(ctx, d.filter(w, after, limit))
	if err != nil || len(recs) == 0 {
		return usher.Delivery{}, nil, err
	}
	del := usher.Delivery{
		ID: usher.DeliveryID(w.ID, recs[0].ID, last(recs).ID), Webhook: w.ID, FirstEvent: recs[0].ID, LastEvent: last(recs).ID,
		Events: len(body(w, recs)), Status: usher.DeliveryPending, Created: d.o.Now(), Oldest: oldest(recs),
	}
	return del, recs, d.o.Store.PutDelivery(ctx, del)
}

// batchDue reports whether the webhook's next batch is due, an interval
// after the last one this dispatcher made (a new leader makes its first
// at once), and if so counts the interval from now.
func (d *Dispatcher) batchDue(w usher.Webhook) bool {
	now := d.o.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.lastBatch[w.ID]; ok && now.Before(t.Add(w.Interval)) {
		return false
	}
	d.lastBatch[w.ID] = now
	return true
}

// filter selects the webhook's events after an ID, the first ones first.
func (d *Dispatcher) filter(w usher.Webhook, after int64, limit int) eventlog.Filter {
	f := eventlog.Filter{AfterID: after, Types: w.EventTypes(eventlog.Types()), Limit: limit}
	if after == 0 {
		f.Since = time.Unix(0, 0) // from the first, not the latest
	}
	return f
}

// attempt sends a delivery once and stores how it went. recs are its
// events when the caller has them; nil reads them again.
func (d *Dispatcher) attempt(ctx context.Context, w usher.Webhook, del *usher.Delivery, recs []eventlog.Record) error {
	if recs == nil {
		var err error
		if recs, err = d.o.Events.Query(ctx, d.filter(w, del.FirstEvent-1, eventlog.MaxLimit)); err != nil {
			return err
		}
		for len(recs) > 0 && last(recs).ID > del.LastEvent {
			recs = recs[:len(recs)-1]
		}
	}
	now := d.o.Now()
	if len(recs) == 0 || recs[0].ID != del.FirstEvent {
		del.Status, del.NextAttempt = usher.DeliveryDead, time.Time{}
		del.LastError = "its events were deleted (event_retention, event_max_size) before the receiver took them"
		d.o.Logger.Error("webhooks: delivery dead-lettered", "webhook", w.ID, "delivery", del.ID, "reason", del.LastError)
		return d.o.Store.PutDelivery(ctx, *del)
	}
	payload, err := json.Marshal(Payload{Delivery: del.ID, Webhook: w.ID, Mode: w.Mode, Events: body(w, recs)})
	if err != nil {
		return err
	}
	status, err := d.send(ctx, w, del, payload, now)
	del.Attempts++
	del.LastAttempt, del.LastStatus, del.LastError = now, status, ""
	switch {
	case err == nil:
		del.Status, del.NextAttempt = usher.DeliveryDelivered, time.Time{}
	case now.Sub(del.Oldest) >= d.o.DeadLetterAfter:
		del.Status, del.NextAttempt, del.LastError = usher.DeliveryDead, time.Time{}, err.Error()
		d.o.Logger.Error("webhooks: delivery dead-lettered: its events are older than webhook_dead_letter_after",
			"webhook", w.ID, "delivery", del.ID, "attempts", del.Attempts, "err", err)
	default:
		del.LastError = err.Error()
		del.NextAttempt = now.Add(usher.WebhookBackoff(del.Attempts-1, baseBackoff, d.o.MaxBackoff, d.o.Jitter()))
		d.o.Logger.Warn("webhooks: delivery failed; trying again", "webhook", w.ID, "delivery", del.ID,
			"attempts", del.Attempts, "next", del.NextAttempt, "err", err)
	}
	return d.o.Store.PutDelivery(context.WithoutCancel(ctx), *del) // what was sent is recorded even as the term ends
}

// send posts the payload and returns the receiver's status; an error
// unless it is 2xx.
func (d *Dispatcher) send(ctx context.Context, w usher.Webhook, del *usher.Delivery, payload []byte, now time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.o.UserAgent)
	req.Header.Set("Usher-Delivery", del.ID)
	req.Header.Set("Usher-Webhook", w.ID)
	req.Header.Set("Usher-Attempt", strconv.Itoa(del.Attempts+1))
	if w.Secret != "" {
		req.Header.Set("Usher-Signature", usher.SignWebhook(w.Secret, now, payload))
	}
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Payload is the JSON body of a delivery.
type Payload struct {
	Delivery string            `json:"delivery"`
	Webhook  string            `json:"webhook"`
	Mode     string            `json:"mode"`
	Events   []eventlog.Record `json:"events"`
}

// body returns the events a delivery of recs carries: all of them, or in
// mode current the latest of each lease, license and feature.
func body(w usher.Webhook, recs []eventlog.Record) []eventlog.Record {
	if w.Mode != usher.WebhookCurrent {
		return recs
	}
	latest := make(map[string]int, len(recs))
	for i, r := range recs {
		latest[usher.CurrentKey(r.Event)] = i
	}
	out := make([]eventlog.Record, 0, len(latest))
	for i, r := range recs {
		if latest[usher.CurrentKey(r.Event)] == i {
			out = append(out, r)
		}
	}
	return out
}

func last[T any](s []T) T {
	var zero T
	if len(s) == 0 {
		return zero
	}
	return s[len(s)-1]
}

func oldest(recs []eventlog.Record) time.Time {
	t := recs[0].Time
	for _, r := range recs[1:] {
		if r.Time.Before(t) {
			t = r.Time
		}
	}
	return t
}
