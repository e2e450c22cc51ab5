package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/webhook"
)

// A cluster's webhooks and their outbox, under the cluster's prefix:
//
//	webhooks/ID                      a webhook added over the API, JSON
//	webhook-cursors/ID               its cursor, 20 digits, so that etcd compares them as numbers
//	deliveries/WEBHOOK/LAST/ID       a delivery, JSON; LAST is its last event, 20 digits
//	pending/WEBHOOK/LAST/ID          the same, while it is pending
var _ webhook.Store = (*Shared)(nil)

func cursorValue(n int64) string { return fmt.Sprintf("%020d", n) }

func deliveryKey(dir string, d usher.Delivery) string {
	return dir + d.Webhook + "/" + cursorValue(d.LastEvent) + "/" + d.ID
}

// Webhooks implements webhook.Store.
func (s *Shared) Webhooks(ctx context.Context) ([]usher.Webhook, error) {
	var out []usher.Webhook
	return out, list(ctx, s, "webhooks/", func(w usher.Webhook) { out = append(out, w) })
}

// PutWebhook implements webhook.Store.
func (s *Shared) PutWebhook(ctx context.Context, w usher.Webhook) error {
	return s.put(ctx, "webhooks/"+w.ID, w)
}

// DeleteWebhook implements webhook.Store.
func (s *Shared) DeleteWebhook(ctx context.Context, id string) (bool, error) {
	var resp *clientv3.TxnResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpDelete(s.prefix+"webhooks/"+id),
			clientv3.OpDelete(s.prefix+"webhook-cursors/"+id),
			clientv3.OpDelete(s.prefix+"deliveries/"+id+"/", clientv3.WithPrefix()),
			clientv3.OpDelete(s.prefix+"pending/"+id+"/", clientv3.WithPrefix()),
		).Commit()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete webhook %s from etcd: %w", id, err)
	}
	return resp.Responses[0].GetResponseDeleteRange().Deleted > 0, nil
}

// Cursor implements webhook.Store.
func (s *Shared) Cursor(ctx context.Context, id string) (int64, bool, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.prefix+"webhook-cursors/"+id)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("read webhook cursor from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	return n, err == nil, err
}

// SetCursor implements webhook.Store.
func (s *Shared) SetCursor(ctx context.Context, id string, after int64) error {
	err := retry(ctx, func() error {
		_, err := s.cli.Put(ctx, s.prefix+"webhook-cursors/"+id, cursorValue(after))
		return err
	})
	return wrapErr("write webhook cursor to etcd", err)
}

// PutDelivery implements webhook.Store: the delivery, its pending copy
// put or deleted, and the cursor moved on unless it is further, in one
// transaction.
func (s *Shared) PutDelivery(ctx context.Context, d usher.Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	// A delivery's key never changes: its ID follows its events.
	ops := []clientv3.Op{clientv3.OpPut(s.prefix+deliveryKey("deliveries/", d), string(v))}
	if d.Status == usher.DeliveryPending {
		ops = append(ops, clientv3.OpPut(s.prefix+deliveryKey("pending/", d), string(v)))
	} else {
		key, at := s.prefix+"webhook-cursors/"+d.Webhook, cursorValue(d.LastEvent)
		ops = append(ops, clientv3.OpDelete(s.prefix+deliveryKey("pending/", d)),
			clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value(key), "<", at)}, []clientv3.Op{clientv3.OpPut(key, at)},
				[]clientv3.Op{clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
					[]clientv3.Op{clientv3.OpPut(key, at)}, nil)}))
	}
	err = retry(ctx, func() error { _, err := s.cli.Txn(ctx).Then(ops...).Commit(); return err })
	return wrapErr("write delivery to etcd", err)
}

// Delivery implements webhook.Store. It looks the ID up among every
// delivery's key: an admin's rare request.
func (s *Shared) Delivery(ctx context.Context, id string) (usher.Delivery, bool, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.prefix+"deliveries/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		return err
	})
	if err != nil {
		return usher.Delivery{}, false, fmt.Errorf("read deliveries from etcd: %w", err)
	}
	for _, kv := range resp.Kvs {
		if strings.HasSuffix(string(kv.Key), "/"+id) {
			var d usher.Delivery
			err := s.get(ctx, string(kv.Key), &d)
			return d, err == nil, err
		}
	}
	return usher.Delivery{}, false, nil
}

func (s *Shared) get(ctx context.Context, key string, v any) error {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("read %s from etcd: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("read %s from etcd: gone", key)
	}
	return json.Unmarshal(resp.Kvs[0].Value, v)
}

// Deliveries implements webhook.Store.
func (s *Shared) Deliveries(ctx context.Context, id string, pendingOnly bool, limit int) ([]usher.Delivery, error) {
	dir := "deliveries/"
	if pendingOnly {
		dir = "pending/"
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.prefix+dir+id+"/", opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries from etcd: %w", err)
	}
	out := make([]usher.Delivery, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var d usher.Delivery
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return nil, fmt.Errorf("etcd key %s: %w", kv.Key, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// PruneDeliveries implements webhook.Store, in transactions of up to
// pruneBatch deletes.
func (s *Shared) PruneDeliveries(ctx context.Context, before time.Time, keep int) error {
	var all []usher.Delivery
	if err := list(ctx, s, "deliveries/", func(d usher.Delivery) { all = append(all, d) }); err != nil {
		return err
	}
	// Keys sort by webhook, then by last event: the latest of a webhook last.
	seen := make(map[string]int)
	var ops []clientv3.Op
	for i := len(all) - 1; i >= 0; i-- {
		d := all[i]
		seen[d.Webhook]++
		if d.Status != usher.DeliveryPending && (d.Created.Before(before) || seen[d.Webhook] > keep) {
			ops = append(ops, clientv3.OpDelete(s.prefix+deliveryKey("deliveries/", d)))
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), pruneBatch)
		if err := retry(ctx, func() error { _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); return err }); err != nil {
			return fmt.Errorf("prune deliveries in etcd: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// pruneBatch is the most deletes in one transaction: etcd takes 128 by
// default.
const pruneBatch = 100

func wrapErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
