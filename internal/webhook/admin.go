package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// Admin is what an admin does with webhooks, on any node: list, add and
// remove them, read their delivery log and send a delivery again.
type Admin struct {
	Store  Store
	Events Events                 // where a new webhook's cursor starts: the latest event
	Config func() []usher.Webhook // the webhooks of the configuration file
	Now    func() time.Time
}

// List returns every webhook, those of the configuration first, without
// their secrets.
func (a *Admin) List(ctx context.Context) ([]usher.Webhook, error) {
	stored, err := a.Store.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(stored, func(x, y usher.Webhook) int { return x.Created.Compare(y.Created) })
	out := make([]usher.Webhook, 0, len(stored))
	for _, w := range append(a.Config(), stored...) {
		out = append(out, w.Redacted())
	}
	return out, nil
}

// Add validates and stores a new webhook, and returns it without its
// secret. It receives the events stored from then on (call the event
// log's Sync first to include those recorded just before).
//
// Errors: EInvalid for a bad field.
func (a *Admin) Add(ctx context.Context, w usher.Webhook) (usher.Webhook, error) {
	if err := w.Validate(eventlog.Types()); err != nil {
		return usher.Webhook{}, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	w.ID, w.Source, w.Created, w.HasSecret = "wh_"+hex.EncodeToString(b[:]), usher.WebhookFromAPI, a.Now().UTC(), false
	latest, err := a.Events.Query(ctx, eventlog.Filter{Limit: 1})
	if err != nil {
		return usher.Webhook{}, err
	}
	if err := a.Store.SetCursor(ctx, w.ID, last(latest).ID); err != nil {
		return usher.Webhook{}, err
	}
	if err := a.Store.PutWebhook(ctx, w); err != nil {
		return usher.Webhook{}, err
	}
	return w.Redacted(), nil
}

// Remove removes a webhook added over the API, with its outbox.
//
// Errors: EInvalid for a webhook of the configuration file,
// EWebhookNotFound when none has the ID.
func (a *Admin) Remove(ctx context.Context, id string) error {
	if _, ok := a.config(id); ok {
		return usher.Errorf(usher.EInvalid, "webhook %s is a [[webhook]] entry of the configuration file: remove it there and restart the server", id)
	}
	ok, err := a.Store.DeleteWebhook(ctx, id)
	if err == nil && !ok {
		err = usher.Errorf(usher.EWebhookNotFound, "no webhook has the ID %q: see usher webhooks list", id)
	}
	return err
}

func (a *Admin) config(id string) (usher.Webhook, bool) {
	for _, w := range a.Config() {
		if w.ID == id {
			return w, true
		}
	}
	return usher.Webhook{}, false
}

// Log returns a webhook's deliveries, the latest first, at most limit.
//
// Errors: EWebhookNotFound when no webhook has the ID.
func (a *Admin) Log(ctx context.Context, id string, limit int) ([]usher.Delivery, error) {
	if err := a.exists(ctx, id); err != nil {
		return nil, err
	}
	return a.Store.Deliveries(ctx, id, false, limit)
}

func (a *Admin) exists(ctx context.Context, id string) error {
	if _, ok := a.config(id); ok {
		return nil
	}
	stored, err := a.Store.Webhooks(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(stored, func(w usher.Webhook) bool { return w.ID == id }) {
		return usher.Errorf(usher.EWebhookNotFound, "no webhook has the ID %q: see usher webhooks list", id)
	}
	return nil
}

// Redeliver queues a delivery to be sent again, at once and before the
// webhook's newer events: a dead one, or one delivered that the receiver
// lost. It keeps its ID.
//
// Errors: EWebhookNotFound when no delivery has the ID.
func (a *Admin) Redeliver(ctx context.Context, id string) (usher.Delivery, error) {
	d, ok, err := a.Store.Delivery(ctx, id)
	if err != nil {
		return usher.Delivery{}, err
	}
	if !ok {
		return usher.Delivery{}, usher.Errorf(usher.EWebhookNotFound, "no delivery has the ID %q: see usher webhooks log", id)
	}
	d.Status, d.NextAttempt, d.Created, d.Oldest = usher.DeliveryPending, time.Time{}, a.Now().UTC(), a.Now().UTC()
	return d, a.Store.PutDelivery(ctx, d)
}
