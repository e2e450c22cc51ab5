package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// History keeps a cluster's audit trail and usage history in etcd, so that
// it survives the loss of any node: it is the event log's Backend in
// cluster mode. Every node appends its own events to one numbered
// sequence; any node reads it.
//
// Events are stored in batches, one key per batch named by the id of its
// first event; a counter key holds the next id and the latest event time
// stored so far (upto), and every append moves it with a compare-and-swap,
// so that ids are never used twice:
//
//	/usher/<cluster>/history/next_event        "<next id> <upto, Unix ns>"
//	/usher/<cluster>/history/events/<first id> a batch (see encodeBatch)
//	/usher/<cluster>/history/usage/<hour>      usage of every feature per minute of that hour
//
// Each batch records the counter's upto after it. upto only grows with the
// id, so a time bound becomes a key bound by binary search, as in the
// single-node event log.
//
// Appends are not fenced: history is not seat accounting, and a node that
// does not decide records events of its own (failed logins, its start).
type History struct {
	cli       *clientv3.Client
	prefix    string
	maxEvents int64

	// The writer's view of the counter; only Append touches them.
	counterRev int64  // mod revision of the counter as last seen; -1: read it again
	next, upto int64  // the counter's values at counterRev
	unsure     *batch // a batch whose append failed in a way that may have applied
}

// batch is an append in flight.
type batch struct {
	first int64
	n     int
	value []byte
}

// DefaultMaxEvents is how many events History keeps at most unless told
// otherwise, whatever the retention: etcd refuses every write once its
// database reaches its space quota (2 GiB by default), which would stop
// seat grants too. A million events take about 100 MB (BenchmarkEncodeBatch).
const DefaultMaxEvents = 1_000_000

// Limits of one append, well under etcd's default request size limit
// (1.5 MiB): events carry fields of at most 256 bytes.
const (
	maxBatchEvents = 1024
	maxBatchBytes  = 512 << 10
)

// HistoryOptions configure a History.
type HistoryOptions struct {
	// Cluster names the cluster; its keys live under /usher/<Cluster>/.
	Cluster string
	// MaxEvents bounds how many events are kept; default DefaultMaxEvents.
	MaxEvents int64
}

var (
	_ eventlog.Backend  = (*History)(nil)
	_ eventlog.Follower = (*History)(nil)
)

// NewHistory returns the history of a cluster. It does not own the client.
func NewHistory(cli *clientv3.Client, opts HistoryOptions) *History {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	return &History{cli: cli, prefix: Prefix(opts.Cluster) + "history/", maxEvents: opts.MaxEvents, counterRev: -1}
}

func (h *History) counterKey() string        { return h.prefix + "next_event" }
func (h *History) eventsPrefix() string      { return h.prefix + "events/" }
func (h *History) eventsKey(id int64) string { return fmt.Sprintf("%sevents/%020d", h.prefix, id) }
func (h *History) usagePrefix() string       { return h.prefix + "usage/" }
func (h *History) usageKey(hour int64) string {
	return fmt.Sprintf("%susage/%012d", h.prefix, hour)
}

// Close implements eventlog.Backend. The client stays open.
func (h *History) Close() error { return nil }

// readCounter reads the counter with a linearizable read.
func (h *History) readCounter(ctx context.Context) error {
	resp, err := h.cli.Get(ctx, h.counterKey())
	if err != nil {
		return fmt.Errorf("read the event counter from etcd: %w", err)
	}
	return h.setCounter(resp.Kvs)
}

// setCounter takes the counter from a read of its key.
func (h *History) setCounter(kvs []*mvccKV) error {
	h.counterRev, h.next, h.upto = 0, 1, 0
	if len(kvs) == 0 {
		return nil
	}
	next, upto, ok := strings.Cut(string(kvs[0].Value), " ")
	n, err1 := strconv.ParseInt(next, 10, 64)
	u, err2 := strconv.ParseInt(upto, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		h.counterRev = -1
		return fmt.Errorf("etcd key %s holds %q, not \"<next id> <upto>\"", kvs[0].Key, kvs[0].Value)
	}
	h.counterRev, h.next, h.upto = kvs[0].ModRevision, n, u
	return nil
}

// Append implements eventlog.Backend. It stores up to maxBatchEvents
// events (fewer if they are large) as one batch.
func (h *History) Append(ctx context.Context, evs []usher.Event) (int64, int, error) {
	if h.unsure != nil {
		// The last append failed after it may have applied: find out.
		first, n, err := h.resolve(ctx, evs)
		if err != nil || n > 0 {
			return first, n, err
		}
	}
	if h.counterRev < 0 {
		if err := h.readCounter(ctx); err != nil {
			return 0, 0, err
		}
	}
	n := min(len(evs), maxBatchEvents)
	for {
		b := &batch{first: h.next}
		upto := h.upto
		b.value, b.n = encodeBatch(evs[:n], &upto, maxBatchBytes)
		n = b.n
		counter := strconv.FormatInt(b.first+int64(n), 10) + " " + strconv.FormatInt(upto, 10)
		resp, err := h.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(h.counterKey()), "=", h.counterRev)).
			Then(clientv3.OpPut(h.counterKey(), counter), clientv3.OpPut(h.eventsKey(b.first), string(b.value))).
			Else(clientv3.OpGet(h.counterKey())).Commit()
		if err != nil {
			h.unsure, h.counterRev = b, -1
			return 0, 0, fmt.Errorf("append events to etcd: %w", err)
		}
		if resp.Succeeded {
			h.counterRev, h.next, h.upto = resp.Header.Revision, b.first+int64(n), upto
			return b.first, n, nil
		}
		// Another node appended meanwhile: number on from its batch.
		if err := h.setCounter(resp.Responses[0].GetResponseRange().Kvs); err != nil {
			return 0, 0, err
		}
	}
}

// resolve finds out whether the unsure batch was stored. If it was, and
// evs starts with its events (the writer tries failed events again first),
// it reports them stored.
func (h *History) resolve(ctx context.Context, evs []usher.Event) (int64, int, error) {
	b := h.unsure
	resp, err := h.cli.Get(ctx, h.eventsKey(b.first))
	if err != nil {
		return 0, 0, fmt.Errorf("check the last append of events in etcd: %w", err)
	}
	h.unsure = nil
	if len(resp.Kvs) == 0 || !bytes.Equal(resp.Kvs[0].Value, b.value) || len(evs) < b.n {
		return 0, 0, nil // not stored, or not these events: append as usual
	}
	hdr, off, err := readHeader(b.value)
	if err != nil {
		return 0, 0, err
	}
	if body, n := encodeBody(evs[:b.n], hdr.base, maxBatchBytes); n != b.n || !bytes.Equal(body, b.value[off:]) {
		return 0, 0, nil
	}
	return b.first, b.n, nil
}

// Follow implements eventlog.Follower: it watches the event batches from
// the revision current when called. When the watch breaks it starts again
// where it stopped; if etcd has compacted that revision meanwhile, it
// goes on from the oldest one it still has, and the events in between are
// left out of the live stream (a stream resumed by id reads them).
func (h *History) Follow(ctx context.Context, ready func(from int64), fn func([]eventlog.Record)) error {
	var rev, from int64
	err := retry(ctx, func() error {
		resp, err := h.cli.Get(ctx, h.counterKey())
		if err != nil {
			return err
		}
		rev, from = resp.Header.Revision+1, 1
		if len(resp.Kvs) > 0 {
			next, _, _ := strings.Cut(string(resp.Kvs[0].Value), " ")
			if from, err = strconv.ParseInt(next, 10, 64); err != nil {
				return fmt.Errorf("etcd key %s holds %q, not \"<next id> <upto>\"", resp.Kvs[0].Key, resp.Kvs[0].Value)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("follow the event history in etcd: %w", err)
	}
	ready(from)
	for {
		wctx, cancel := context.WithCancel(ctx)
		for resp := range h.cli.Watch(wctx, h.eventsPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev)) {
			if resp.CompactRevision > rev {
				rev = resp.CompactRevision
			}
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				rev = ev.Kv.ModRevision + 1
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				recs, _, err := h.decode(ev.Kv)
				if err != nil {
					continue // not a batch this version can read: queries report it
				}
				fn(recs)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Query implements eventlog.Backend.
func (h *History) Query(ctx context.Context, f eventlog.Filter) ([]eventlog.Record, error) {
	if f.Latest() {
		return h.latest(ctx, f)
	}
	start := h.eventsPrefix()
	if f.AfterID > 0 {
		k, err := h.batchHolding(ctx, f.AfterID+1)
		if err != nil {
			return nil, err
		}
		start = max(start, k)
	}
	if !f.Since.IsZero() {
		k, err := h.firstBatchFrom(ctx, f.Since.UnixNano())
		if err != nil {
			return nil, err
		}
		start = max(start, k)
	}
	out := []eventlog.Record{}
	err := h.scan(ctx, start, func(recs []eventlog.Record, minTime int64) bool {
		if !f.Until.IsZero() && minTime >= f.Until.Add(clockSkew).UnixNano() {
			return false
		}
		for i := range recs {
			if f.Selects(&recs[i]) {
				out = append(out, recs[i])
				if len(out) == f.Limit {
					return false
				}
			}
		}
		return true
	})
	return out, err
}

// clockSkew is how far before the other events of its batch an event's
// time may lie for a query with an upper time bound to still find it: a
// forward query stops at the first batch whose earliest event is this much
// after the bound.
const clockSkew = time.Minute

// latest returns the last f.Limit events that f selects, oldest first.
func (h *History) latest(ctx context.Context, f eventlog.Filter) ([]eventlog.Record, error) {
	out := []eventlog.Record{}
	end := clientv3.GetPrefixRangeEnd(h.eventsPrefix())
	for {
		resp, err := h.cli.Get(ctx, h.eventsPrefix(), clientv3.WithRange(end),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(scanPage))
		if err != nil {
			return nil, fmt.Errorf("read events from etcd: %w", err)
		}
		for _, kv := range resp.Kvs {
			recs, _, err := h.decode(kv)
			if err != nil {
				return nil, err
			}
			for i := len(recs) - 1; i >= 0; i-- {
				if f.Selects(&recs[i]) {
					out = append(out, recs[i])
					if len(out) == f.Limit {
						slices.Reverse(out)
						return out, nil
					}
				}
			}
			end = string(kv.Key)
		}
		if !resp.More {
			slices.Reverse(out)
			return out, nil
		}
	}
}

// scanPage is how many batches one read of a scan returns.
const scanPage = 16

// scan passes the batches from the key start on, in order, to fn until it
// returns false or none is left.
func (h *History) scan(ctx context.Context, start string, fn func(recs []eventlog.Record, minTime int64) bool) error {
	end := clientv3.GetPrefixRangeEnd(h.eventsPrefix())
	for {
		resp, err := h.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(scanPage))
		if err != nil {
			return fmt.Errorf("read events from etcd: %w", err)
		}
		for _, kv := range resp.Kvs {
			recs, hdr, err := h.decode(kv)
			if err != nil {
				return err
			}
			if !fn(recs, hdr.minTime) {
				return nil
			}
			start = string(kv.Key) + "\x00"
		}
		if !resp.More {
			return nil
		}
	}
}

// batchHolding returns the key of the batch that holds id, or of the
// first batch after it.
func (h *History) batchHolding(ctx context.Context, id int64) (string, error) {
	resp, err := h.cli.Get(ctx, h.eventsPrefix(), clientv3.WithRange(h.eventsKey(id+1)),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err != nil {
		return "", fmt.Errorf("read events from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return h.eventsPrefix(), nil
	}
	return string(resp.Kvs[0].Key), nil
}

// firstBatchFrom returns the key of the first batch whose upto is at or
// after t (Unix nanoseconds): every event of the batches before it is
// older than t. It is a binary search over ids, since upto grows with
// them.
func (h *History) firstBatchFrom(ctx context.Context, t int64) (string, error) {
	first, err := h.cli.Get(ctx, h.eventsPrefix(), clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err != nil {
		return "", fmt.Errorf("read events from etcd: %w", err)
	}
	last, err := h.cli.Get(ctx, h.eventsPrefix(), clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return "", fmt.Errorf("read events from etcd: %w", err)
	}
	if len(first.Kvs) == 0 || len(last.Kvs) == 0 {
		return h.eventsPrefix(), nil
	}
	lo, err1 := h.batchID(first.Kvs[0].Key)
	hi, err2 := h.batchID(last.Kvs[0].Key)
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	hi++ // the answer is the first batch at or after an id in [lo, hi]; hi: none
	for lo < hi {
		mid := lo + (hi-lo)/2
		resp, err := h.cli.Get(ctx, h.eventsKey(mid), clientv3.WithRange(clientv3.GetPrefixRangeEnd(h.eventsPrefix())), clientv3.WithLimit(1))
		if err != nil {
			return "", fmt.Errorf("read events from etcd: %w", err)
		}
		if len(resp.Kvs) == 0 {
			hi = mid
			continue
		}
		id, err := h.batchID(resp.Kvs[0].Key)
		if err != nil {
			return "", err
		}
		hdr, _, err := readHeader(resp.Kvs[0].Value)
		if err != nil {
			return "", fmt.Errorf("etcd key %s: %w", resp.Kvs[0].Key, err)
		}
		if hdr.upto >= t {
			hi = mid
		} else {
			lo = id + 1
		}
	}
	return h.eventsKey(lo), nil
}

func (h *History) batchID(key []byte) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(string(key), h.eventsPrefix()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd key %s does not name an event batch", key)
	}
	return id, nil
}

func (h *History) decode(kv *mvccKV) ([]eventlog.Record, header, error) {
	first, err := h.batchID(kv.Key)
	if err != nil {
		return nil, header{}, err
	}
	recs, hdr, err := decodeBatch(kv.Value, first)
	if err != nil {
		return nil, header{}, fmt.Errorf("etcd key %s: %w", kv.Key, err)
	}
	return recs, hdr, nil
}

// Prune implements eventlog.Backend: it deletes the batches older than
// events, and the oldest batches beyond the most events kept; and the
// usage of the hours that ended before usage.
func (h *History) Prune(ctx context.Context, events, usage time.Time) error {
	k, err := h.firstBatchFrom(ctx, events.UnixNano())
	if err != nil {
		return err
	}
	resp, err := h.cli.Get(ctx, h.counterKey())
	if err != nil {
		return fmt.Errorf("read the event counter from etcd: %w", err)
	}
	if len(resp.Kvs) > 0 {
		next, _, _ := strings.Cut(string(resp.Kvs[0].Value), " ")
		if n, err := strconv.ParseInt(next, 10, 64); err == nil && n-h.maxEvents > 0 {
			k = max(k, h.eventsKey(n-h.maxEvents))
		}
	}
	if err := h.trimBatch(ctx, k, events.UnixNano()); err != nil {
		return err
	}
	_, err = h.cli.Txn(ctx).Then(
		clientv3.OpDelete(h.eventsPrefix(), clientv3.WithRange(k)),
		clientv3.OpDelete(h.usagePrefix(), clientv3.WithRange(h.usageKey(hourOf(usage.Unix())))),
	).Commit()
	if err != nil {
		return fmt.Errorf("delete old history from etcd: %w", err)
	}
	return h.updateUsage(ctx, []int64{hourOf(usage.Unix())}, func(_ int64, rows []usageRow) []usageRow {
		return slices.DeleteFunc(rows, func(r usageRow) bool { return r.Minute < usage.Unix() })
	})
}

// trimBatch drops the events older than t from the start of the batch at
// key, the first that holds an event as new as t, so that retention is
// exact to the event: the rest is stored again under the id of its first.
func (h *History) trimBatch(ctx context.Context, key string, t int64) error {
	resp, err := h.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read events from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	kv := resp.Kvs[0]
	recs, hdr, err := h.decode(kv)
	if err != nil {
		return err
	}
	old := 0
	for old < len(recs) && recs[old].Time.UnixNano() < t {
		old++
	}
	if old == 0 || old == len(recs) {
		return nil
	}
	evs := make([]usher.Event, len(recs)-old)
	for i := range evs {
		evs[i] = recs[old+i].Event
	}
	upto := hdr.upto
	value, n := encodeBatch(evs, &upto, len(kv.Value)+1)
	if n != len(evs) {
		return fmt.Errorf("trim the event batch %s: re-encoded %d of %d events", key, n, len(evs))
	}
	// If the batch changed meanwhile, another node trimmed it: leave it.
	_, err = h.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
		Then(clientv3.OpDelete(key), clientv3.OpPut(h.eventsKey(recs[old].ID), string(value))).Commit()
	if err != nil {
		return fmt.Errorf("trim the event batch %s in etcd: %w", key, err)
	}
	return nil
}

func hourOf(unix int64) int64 { return unix - unix%3600 }

// usageRow is the usage of one feature in one minute, as stored.
type usageRow struct {
	Feature   string `json:"f"`
	Minute    int64  `json:"m"`
	Peak      int    `json:"p,omitempty"`
	Checkouts int    `json:"c,omitempty"`
	Denials   int    `json:"d,omitempty"`
}

// AddUsage implements eventlog.Backend.
func (h *History) AddUsage(ctx context.Context, pts []eventlog.UsagePoint) error {
	byHour := make(map[int64][]eventlog.UsagePoint)
	for _, p := range pts {
		hour := hourOf(p.Time.Unix())
		byHour[hour] = append(byHour[hour], p)
	}
	hours := make([]int64, 0, len(byHour))
	for hour := range byHour {
		hours = append(hours, hour)
	}
	return h.updateUsage(ctx, hours, func(hour int64, rows []usageRow) []usageRow {
		return mergeUsage(rows, byHour[hour])
	})
}

// updateUsage changes the usage of some hours: every one is read, changed
// by fn and written back in one transaction that applies only if none of
// them changed meanwhile. An hour left without rows is deleted.
func (h *History) updateUsage(ctx context.Context, hours []int64, fn func(hour int64, rows []usageRow) []usageRow) error {
	for {
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, hour := range hours {
			key := h.usageKey(hour)
			resp, err := h.cli.Get(ctx, key)
			if err != nil {
				return fmt.Errorf("read usage from etcd: %w", err)
			}
			var rows []usageRow
			rev := int64(0)
			if len(resp.Kvs) > 0 {
				if err := json.Unmarshal(resp.Kvs[0].Value, &rows); err != nil {
					return fmt.Errorf("etcd key %s: %w", key, err)
				}
				rev = resp.Kvs[0].ModRevision
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
			rows = fn(hour, rows)
			if len(rows) == 0 {
				if rev != 0 {
					ops = append(ops, clientv3.OpDelete(key))
				}
				continue
			}
			value, err := json.Marshal(rows)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(key, string(value)))
		}
		resp, err := h.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("write usage to etcd: %w", err)
		}
		if resp.Succeeded {
			return nil
		}
	}
}

// mergeUsage adds pts to the rows of an hour.
func mergeUsage(rows []usageRow, pts []eventlog.UsagePoint) []usageRow {
	for _, p := range pts {
		i := slices.IndexFunc(rows, func(r usageRow) bool { return r.Feature == p.Feature && r.Minute == p.Time.Unix() })
		if i < 0 {
			rows = append(rows, usageRow{Feature: p.Feature, Minute: p.Time.Unix()})
			i = len(rows) - 1
		}
		r := &rows[i]
		r.Peak = max(r.Peak, p.Peak)
		r.Checkouts += p.Checkouts
		r.Denials += p.Denials
	}
	return rows
}

// Usage implements eventlog.Backend.
func (h *History) Usage(ctx context.Context, q eventlog.UsageQuery) ([]eventlog.UsagePoint, error) {
	from, to := int64(0), int64(1<<62)
	start, end := h.usageKey(0), clientv3.GetPrefixRangeEnd(h.usagePrefix())
	if !q.From.IsZero() {
		from = q.From.Unix()
		start = h.usageKey(hourOf(from))
	}
	if !q.To.IsZero() {
		to = q.To.Unix()
		end = h.usageKey(to) // hours that start before to
	}
	var minutes []eventlog.UsagePoint
	for {
		resp, err := h.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(256))
		if err != nil {
			return nil, fmt.Errorf("read usage from etcd: %w", err)
		}
		for _, kv := range resp.Kvs {
			var rows []usageRow
			if err := json.Unmarshal(kv.Value, &rows); err != nil {
				return nil, fmt.Errorf("etcd key %s: %w", kv.Key, err)
			}
			for _, r := range rows {
				if r.Minute >= from && r.Minute < to && (q.Feature == "" || q.Feature == r.Feature) {
					minutes = append(minutes, eventlog.UsagePoint{Feature: r.Feature, Time: time.Unix(r.Minute, 0).UTC(),
						Peak: r.Peak, Checkouts: r.Checkouts, Denials: r.Denials})
				}
			}
			start = string(kv.Key) + "\x00"
		}
		if !resp.More {
			return eventlog.Rollup(minutes, q.Step), nil
		}
	}
}
