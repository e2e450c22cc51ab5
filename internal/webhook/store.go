// Package webhook delivers the server's events to HTTP endpoints: a
// Dispatcher reads the event log, which is the queue, and keeps per
// endpoint a durable cursor (the last event delivered and acknowledged)
// and a delivery log in a Store: an SQLite database on a single node,
// etcd in a cluster. A delivery is stored before it is sent and the
// cursor moves only after the receiver answered 2xx, so every event is
// delivered at least once, in order per endpoint, across restarts, kill
// -9 and failovers; a delivery sent again carries the same ID.
package webhook

import (
	"context"
	"time"

	usher "github.com/usher-lm/usher"
)

// Store keeps the webhooks added at runtime and each webhook's outbox.
type Store interface {
	// Webhooks returns the webhooks added over the API.
	Webhooks(ctx context.Context) ([]usher.Webhook, error)
	// PutWebhook stores a webhook, replacing one with the same ID.
	PutWebhook(ctx context.Context, w usher.Webhook) error
	// DeleteWebhook removes a webhook with its cursor and deliveries, and
	// reports whether there was one.
	DeleteWebhook(ctx context.Context, id string) (bool, error)
	// Cursor returns the ID of the last event the webhook's receiver has
	// acknowledged (or was not to receive), and whether one is stored.
	Cursor(ctx context.Context, webhook string) (int64, bool, error)
	// SetCursor stores the webhook's cursor.
	SetCursor(ctx context.Context, webhook string, after int64) error
	// PutDelivery stores a delivery, replacing one with the same ID. One
	// that is no longer pending moves the webhook's cursor on to its
	// LastEvent, unless the cursor is further already: in the same
	// transaction, so that a delivery is never both done and behind.
	PutDelivery(ctx context.Context, d usher.Delivery) error
	// Delivery returns the delivery with that ID, and whether there is one.
	Delivery(ctx context.Context, id string) (usher.Delivery, bool, error)
	// Deliveries returns the webhook's deliveries, or only its pending
	// ones, latest events first, at most limit (0: all).
	Deliveries(ctx context.Context, webhook string, pendingOnly bool, limit int) ([]usher.Delivery, error)
	// PruneDeliveries deletes the deliveries no longer pending that were
	// created before then, or are not among the latest keep of their
	// webhook.
	PruneDeliveries(ctx context.Context, before time.Time, keep int) error
}
