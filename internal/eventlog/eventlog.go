// Package eventlog keeps Usher's audit trail and usage history. It
// receives every state change as an usher.Event (it is the ledger's
// Observer, and the server records its own events through Record), stores
// events in their own SQLite database in batches, fans them out to live
// subscribers, and aggregates seats in use, checkouts and denials per
// feature and minute.
//
// Observe never blocks: it hands the event to a bounded queue that one
// writer goroutine drains. Events are derived from changes the ledger has
// already made durable, so losing the last few milliseconds of them when
// the process is killed costs history, never seats. When the queue is full
// an event is dropped and counted (see Dropped).
package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Event types recorded by the server itself rather than by the ledger.
const (
	EventServerStarted = "server_started"
	EventServerStopped = "server_stopped"
	EventConfigChanged = "config_changed"
	EventLoginFailed   = "login_failed"
	EventRateLimited   = "rate_limited"
)

// Types lists every event type, in the order they are documented.
func Types() []string {
	return []string{
		EventServerStarted, EventServerStopped,
		usher.EventLeaseGranted, usher.EventLeaseReleased, usher.EventLeaseExpired, usher.EventLeaseKicked,
		usher.EventCheckoutDenied, usher.EventLicenseAdded, usher.EventLicenseRemoved,
		EventConfigChanged, EventLoginFailed, EventRateLimited,
	}
}

// FileName is the event database inside the data directory.
const FileName = "events.db"

// Defaults.
const (
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultUsageRetention = 365 * 24 * time.Hour
	defaultQueue          = 1 << 16
	queueStart            = 1 << 12
	defaultTick           = time.Second
	writeInterval         = 20 * time.Millisecond // the most an event waits to be stored and streamed
)

// Options configure a Log. Dir is required.
type Options struct {
	Dir            string
	Retention      time.Duration                // events older than this are deleted; default DefaultRetention
	UsageRetention time.Duration                // usage older than this is deleted; default DefaultUsageRetention
	Features       func() []usher.FeatureStatus // samples seats in use; usually Ledger.Features
	Now            func() time.Time             // default time.Now
	Logger         *slog.Logger                 // default discards
	Queue          int                          // events buffered for the writer; default 65536
	Tick           time.Duration                // how often to sample and flush usage; default 1s
}

// Record is a stored event: the event and its sequence number, which only
// grows and is never reused.
type Record struct {
	ID int64 `json:"id"`
	usher.Event
}

// Log is the event log. Its methods are safe for concurrent use.
type Log struct {
	db      *sql.DB
	now     func() time.Time
	logger  *slog.Logger
	feats   func() []usher.FeatureStatus
	tick    time.Duration
	queue   queue
	spare   []usher.Event // writer only: the buffer the queue gets next
	syncs   chan chan error
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	closed  atomic.Bool
	dropped atomic.Uint64

	retention      atomic.Int64 // time.Duration
	usageRetention atomic.Int64
	lastPrune      time.Time // writer only
	lastID         int64     // writer only: the highest event id used
	upto           int64     // writer only: the latest time stored, in Unix nanoseconds

	inserter *inserter // writer only

	usage *usageAgg // writer only
	subs  subscribers
}

// Open opens (creating if needed) the event database in opts.Dir and
// starts the writer. Close stops it.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("open event log: no directory given")
	}
	dsn := "file:" + filepath.Join(opts.Dir, FileName) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	db.SetMaxOpenConns(3) // the writer's inserts, its other work, and one reader at a time
	if err := createSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("create event log schema in %s: %w", opts.Dir, err)
	}
	l := &Log{
		db: db, now: opts.Now, logger: opts.Logger, feats: opts.Features, tick: opts.Tick,
		queue: queue{limit: opts.Queue}, syncs: make(chan chan error),
		quit: make(chan struct{}), usage: newUsageAgg(),
	}
	if l.queue.limit <= 0 {
		l.queue.limit = defaultQueue
	}
	// Room for a few writes' worth of events at a high rate up front, so
	// that the queue does not grow under its lock while checkouts wait.
	n := min(l.queue.limit, queueStart)
	l.queue.evs, l.spare = make([]usher.Event, 0, n), make([]usher.Event, 0, n)
	if l.now == nil {
		l.now = time.Now
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.tick <= 0 {
		l.tick = defaultTick
	}
	if l.lastID, l.upto, err = readHighWater(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log: read the last event id: %w", err)
	}
	if l.inserter, err = openInserter(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log: prepare: %w", err)
	}
	l.SetRetention(opts.Retention, opts.UsageRetention)
	l.subs.m = make(map[*Subscription]struct{})
	l.wg.Add(1)
	go l.run()
	return l, nil
}

// SetRetention changes how long events and usage history are kept. A
// non-positive value keeps the default.
func (l *Log) SetRetention(events, usage time.Duration) {
	if events <= 0 {
		events = DefaultRetention
	}
	if usage <= 0 {
		usage = DefaultUsageRetention
	}
	l.retention.Store(int64(events))
	l.usageRetention.Store(int64(usage))
}

// Observe implements usher.Observer. It never blocks.
func (l *Log) Observe(ev usher.Event) { l.record(&ev) }

// Record queues an event for storage and the live stream, setting its time
// if it has none. It never blocks: when the queue is full the event is
// dropped and counted.
func (l *Log) Record(ev usher.Event) { l.record(&ev) }

func (l *Log) record(ev *usher.Event) {
	if l.closed.Load() {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	if !l.queue.push(ev) {
		l.dropped.Add(1)
	}
}

// queue holds recorded events until the writer takes them all at once:
// a slice under a mutex rather than a channel, so that the writer pays
// one lock per batch instead of one per event.
type queue struct {
	mu    sync.Mutex
	evs   []usher.Event
	limit int
}

// push appends ev unless the queue is full.
func (q *queue) push(ev *usher.Event) bool {
	q.mu.Lock()
	ok := len(q.evs) < q.limit
	if ok {
		q.evs = append(q.evs, *ev)
	}
	q.mu.Unlock()
	return ok
}

// take returns the queued events and queues on into spare, emptied.
func (q *queue) take(spare []usher.Event) []usher.Event {
	q.mu.Lock()
	evs := q.evs
	q.evs = spare[:0]
	q.mu.Unlock()
	return evs
}

// Dropped returns how many events were lost because the queue was full.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Sync waits until every event recorded before the call is stored and the
// usage history includes it.
func (l *Log) Sync(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case l.syncs <- done:
	case <-l.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errClosed = usher.Errorf(usher.EUnavailable, "the event log is closed: the server is shutting down")

// Close stores the events still queued, flushes the usage history, ends
// every subscription and closes the database. Safe to call twice.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.quit)
		l.wg.Wait()
		l.subs.closeAll()
		err = errors.Join(l.inserter.close(), l.db.Close())
	})
	return err
}

// run is the single writer.
func (l *Log) run() {
	defer l.wg.Done()
	t := time.NewTicker(l.tick)
	defer t.Stop()
	// The writer wakes on a short timer rather than on each event, so that
	// recording an event is a plain buffered send that never has to wake
	// a goroutine: that cost would fall on every checkout.
	w := time.NewTicker(writeInterval)
	defer w.Stop()
	for {
		select {
		case <-l.quit:
			l.drain()
			l.logErr("flush usage", l.flushUsage(true))
			return
		case <-w.C:
			l.drain()
		case done := <-l.syncs:
			l.drain()
			l.sample()
			done <- l.flushUsage(true)
		case <-t.C:
			l.drain()
			l.sample()
			l.logErr("flush usage", l.flushUsage(false))
			l.prune()
		}
	}
}

func (l *Log) logErr(what string, err error) {
	if err != nil {
		l.logger.Error("event log: "+what, "err", err)
	}
}

// drain stores everything queued in one transaction, counts it in the
// usage and hands it to the subscribers.
func (l *Log) drain() {
	batch := l.queue.take(l.spare)
	if len(batch) > 0 {
		first := l.lastID + 1
		err := l.insert(batch)
		l.logErr("store events", err)
		for i := range batch {
			l.usage.observe(&batch[i])
		}
		if err == nil {
			l.subs.publish(batch, first)
		}
		clear(batch) // let go of the strings until the buffer is reused
	}
	l.spare = batch
}

// prune deletes what is older than the retention, at most once a minute.
func (l *Log) prune() {
	now := l.now()
	if now.Sub(l.lastPrune) < time.Minute {
		return
	}
	l.lastPrune = now
	l.logErr("prune", l.Prune(context.Background()))
}

// Prune deletes events and usage older than their retention now, instead
// of waiting for the next periodic pass.
func (l *Log) Prune(ctx context.Context) error {
	now := l.now()
	evCut := now.Add(-time.Duration(l.retention.Load())).UnixNano()
	usCut := now.Add(-time.Duration(l.usageRetention.Load())).Unix()
	if err := l.deleteBefore(ctx, evCut); err != nil {
		return fmt.Errorf("delete old events: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM usage WHERE minute < ?`, usCut); err != nil {
		return fmt.Errorf("delete old usage: %w", err)
	}
	return nil
}
