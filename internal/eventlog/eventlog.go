// Package eventlog keeps Usher's audit trail and usage history. It
// receives every state change as an usher.Event (it is the ledger's
// Observer, and the server records its own events through Record), stores
// events in batches in a Backend (an SQLite database of its own on a single
// node, see package sqlite; etcd in a cluster), fans them out to live subscribers, and aggregates seats in use,
// checkouts and denials per feature and minute.
//
// Observe never blocks: it hands the event to a bounded queue that one
// writer goroutine drains. Events are derived from changes the ledger has
// already made durable, so losing the last few milliseconds of them when
// the process is killed costs history, never seats. The queue is bounded
// in events and in bytes, counting those the backend refused and the
// writer keeps to store again: when it is full, while the backend fails
// or cannot keep up, an event is dropped and counted (see Dropped), and
// checkouts go on.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	usher "github.com/usher-lm/usher"
)

// Event types recorded by the server itself rather than by the ledger.
const (
	EventServerStarted = "server_started"
	EventServerStopped = "server_stopped"
	EventConfigChanged = "config_changed"
	EventLoginFailed   = "login_failed"
	EventRateLimited   = "rate_limited"
	// EventLicenseInUseElsewhere: another server with this server's
	// identity runs on this host, so bound licenses are not served.
	EventLicenseInUseElsewhere = "license_in_use_elsewhere"
	// EventLicenseServedAgain: that other server stopped, and bound
	// licenses are served again.
	EventLicenseServedAgain = "license_served_again"
	// EventHardwareKeyRemoved: the hardware key holding the server's
	// identity went away, so licenses that require it are not served;
	// EventHardwareKeyInserted: it is back.
	EventHardwareKeyRemoved  = "hardware_key_removed"
	EventHardwareKeyInserted = "hardware_key_inserted"
	// EventPasswordChanged and EventPasswordChangeFailed: a user changed
	// their own password, or was refused (reason: the code).
	EventPasswordChanged      = "password_changed"
	EventPasswordChangeFailed = "password_change_failed"
)

// Types lists every event type, in the order they are documented.
func Types() []string {
	return []string{
		EventServerStarted, EventServerStopped,
		usher.EventLeaseGranted, usher.EventLeaseReleased, usher.EventLeaseExpired, usher.EventLeaseKicked,
		usher.EventCheckoutDenied, usher.EventLicenseAdded, usher.EventLicenseRemoved,
		EventConfigChanged, EventLoginFailed, EventRateLimited,
		EventLicenseInUseElsewhere, EventLicenseServedAgain,
		EventHardwareKeyRemoved, EventHardwareKeyInserted,
		EventPasswordChanged, EventPasswordChangeFailed,
		usher.EventSecretBound, usher.EventSecretUnbound,
		usher.EventConsumptionRecorded, usher.EventConsumptionDenied,
		usher.EventLicenseRenewed, usher.EventLicenseRenewalFailed,
	}
}

// Defaults.
const (
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultUsageRetention = 365 * 24 * time.Hour
	defaultQueue          = 1 << 16
	DefaultQueueBytes     = 32 << 20 // room for the default queue of events of usual size
	queueStart            = 1 << 12
	defaultTick           = time.Second
	writeInterval         = 20 * time.Millisecond // the most an event waits to be stored and streamed
	backendTimeout        = 5 * time.Second       // bounds one call of the writer to the backend
	closeTimeout          = time.Second           // bounds storing what is left at Close
	dropsQuiet            = 10 * time.Second      // without drops for this long, dropping is reported over
)

// Options configure a Log. Backend is required.
type Options struct {
	Backend        Backend                      // where events and usage are stored; the Log closes it
	Retention      time.Duration                // events older than this are deleted; default DefaultRetention
	UsageRetention time.Duration                // usage older than this is deleted; default DefaultUsageRetention
	Features       func() []usher.FeatureStatus // samples seats in use; usually Ledger.Features
	Now            func() time.Time             // default time.Now
	Logger         *slog.Logger                 // default discards
	Queue          int                          // events buffered for the writer; default 65536
	QueueBytes     int64                        // bytes of events buffered or held for the writer; default DefaultQueueBytes
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
	backend Backend
	now     func() time.Time
	logger  *slog.Logger
	feats   func() []usher.FeatureStatus
	tick    time.Duration
	queue   queue
	spare   []usher.Event // writer only: the buffer the queue gets next
	syncs   chan chan error
	quit    chan struct{}
	ctx     context.Context // the writer's calls to the backend; cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	closed  atomic.Bool
	dropped atomic.Uint64

	retention      atomic.Int64 // time.Duration
	usageRetention atomic.Int64
	lastPrune      time.Time     // writer only
	held           []usher.Event // writer only: events the backend refused, to store again
	failing        bool          // writer only: the last store failed
	dropsSeen      uint64        // writer only: Dropped at the last drain
	dropsDone      uint64        // writer only: Dropped when dropping was last reported over
	dropping       bool          // writer only: events are being dropped
	lastDrop       time.Time     // writer only: when a drain last found new drops

	usage *usageAgg // writer only
	subs  subscribers

	// With a Follower backend, events are streamed as the backend
	// delivers them, following it only while anyone subscribes (it costs
	// the backend); Sync then waits until what this log stored is
	// streamed. See follow.
	follower   Follower // nil: stream what this log stores
	base       context.Context
	appended   atomic.Int64 // the highest id this log stored
	followMu   sync.Mutex
	unfollow   context.CancelFunc // nil while not following
	followFrom int64              // every id from this one on is streamed
	streamed   int64              // the highest id streamed
	progress   chan struct{}      // closed and replaced when streamed grows or following stops
}

// Open opens the log on opts.Backend and starts the writer. Close stops
// it, and closes the backend.
func Open(opts Options) (*Log, error) {
	b := opts.Backend
	if b == nil {
		return nil, errors.New("open event log: no backend given")
	}
	l := &Log{
		backend: b, now: opts.Now, logger: opts.Logger, feats: opts.Features, tick: opts.Tick,
		queue: queue{limit: opts.Queue, maxBytes: opts.QueueBytes}, syncs: make(chan chan error),
		quit: make(chan struct{}), usage: newUsageAgg(),
	}
	if l.queue.limit <= 0 {
		l.queue.limit = defaultQueue
	}
	if l.queue.maxBytes <= 0 {
		l.queue.maxBytes = DefaultQueueBytes
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
	l.SetRetention(opts.Retention, opts.UsageRetention)
	l.subs.m = make(map[*Subscription]struct{})
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.base, l.progress = l.ctx, make(chan struct{})
	if f, ok := b.(Follower); ok {
		l.follower = f
	}
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
// if it has none. It never blocks: when the queue is full, in events or in
// bytes, the event is dropped and counted.
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
// one lock per batch instead of one per event. Its bytes count both the
// events queued and those the writer took and has not stored yet, so
// that a failing backend cannot make the writer hold more than maxBytes.
type queue struct {
	mu       sync.Mutex
	evs      []usher.Event
	limit    int
	bytes    int64 // of evs
	taken    int64 // of the events the writer took and holds
	maxBytes int64
}

// push appends ev unless the queue is full, in events or in bytes.
func (q *queue) push(ev *usher.Event) bool {
	n := eventSize(ev)
	q.mu.Lock()
	ok := len(q.evs) < q.limit && q.bytes+q.taken+n <= q.maxBytes
	if ok {
		q.evs = append(q.evs, *ev)
		q.bytes += n
	}
	q.mu.Unlock()
	return ok
}

// take returns the queued events and queues on into spare, emptied. Their
// bytes stay counted until the writer says what it still holds.
func (q *queue) take(spare []usher.Event) []usher.Event {
	q.mu.Lock()
	evs := q.evs
	q.evs = spare[:0]
	q.taken += q.bytes
	q.bytes = 0
	q.mu.Unlock()
	return evs
}

// holding sets the bytes of the events the writer holds after a drain.
func (q *queue) holding(n int64) {
	q.mu.Lock()
	q.taken = n
	q.mu.Unlock()
}

// eventOverhead is what an event takes in memory besides its strings.
const eventOverhead = int64(unsafe.Sizeof(usher.Event{}))

// eventSize is about what ev takes in memory: counted as if it owned its
// strings, though it often shares them with a lease.
func eventSize(ev *usher.Event) int64 {
	c := &ev.Client
	return eventOverhead + int64(len(ev.Type)+len(ev.Feature)+len(ev.LeaseID)+len(c.ID)+len(c.User)+len(c.Host)+
		len(ev.LicenseID)+len(ev.Reason))
}

func eventsSize(evs []usher.Event) int64 {
	var n int64
	for i := range evs {
		n += eventSize(&evs[i])
	}
	return n
}

// Dropped returns how many events were lost because the queue was full,
// in events or in bytes, or the backend still refused them at Close.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Sync waits until every event recorded before the call is stored, the
// usage history includes it and subscribers have been handed it.
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
		if err != nil || l.follower == nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	want := l.appended.Load()
	for {
		l.followMu.Lock()
		caught := l.unfollow == nil || want < l.followFrom || l.streamed >= want
		progress := l.progress
		l.followMu.Unlock()
		if caught {
			return nil
		}
		select {
		case <-progress:
		case <-l.quit:
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startFollowing follows the backend unless the log does already, and
// returns once every event stored from then on will be streamed (or after
// a few seconds without an answer).
func (l *Log) startFollowing() {
	if l.follower == nil || l.closed.Load() {
		return
	}
	l.followMu.Lock()
	if l.unfollow != nil {
		l.followMu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(l.base)
	l.unfollow = cancel
	ready := make(chan struct{})
	l.wg.Add(1)
	l.followMu.Unlock()
	go l.follow(ctx, ready)
	select {
	case <-ready:
	case <-ctx.Done():
	case <-time.After(backendTimeout):
	}
}

// stopFollowing stops following when nobody subscribes any more.
func (l *Log) stopFollowing() {
	if l.follower == nil || l.Subscribers() > 0 {
		return
	}
	l.followMu.Lock()
	defer l.followMu.Unlock()
	if l.unfollow != nil {
		l.unfollow()
		l.unfollow = nil
		close(l.progress) // a Sync waiting for the stream stops waiting
		l.progress = make(chan struct{})
	}
}

// follow streams what the backend delivers until ctx ends.
func (l *Log) follow(ctx context.Context, ready chan struct{}) {
	defer l.wg.Done()
	once := sync.Once{}
	err := l.follower.Follow(ctx, func(from int64) {
		l.followMu.Lock()
		l.followFrom = from
		l.followMu.Unlock()
		once.Do(func() { close(ready) })
	}, func(recs []Record) {
		l.followMu.Lock()
		// Skip what was streamed already: a batch delivered again.
		for len(recs) > 0 && recs[0].ID <= l.streamed {
			recs = recs[1:]
		}
		if len(recs) == 0 {
			l.followMu.Unlock()
			return
		}
		l.streamed = recs[len(recs)-1].ID
		close(l.progress)
		l.progress = make(chan struct{})
		l.followMu.Unlock()
		l.subs.publishRecords(recs)
		l.stopFollowing() // if the last subscriber was dropped
	})
	if err != nil && ctx.Err() == nil {
		l.logger.Error("event log: following the shared history stopped; live streams miss other nodes' events", "err", err)
	}
}

var errClosed = usher.Errorf(usher.EUnavailable, "the event log is closed: the server is shutting down")

// Close stores the events still queued, flushes the usage history, ends
// every subscription and closes the backend. Safe to call twice. It gives
// a backend that does not answer (etcd without a quorum) a second to
// store what is left, then drops it.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		l.followMu.Lock() // no follower starts after this
		l.closed.Store(true)
		l.followMu.Unlock()
		l.cancel() // ends a call in flight; the writer then stores the rest on its own bound
		close(l.quit)
		l.wg.Wait()
		l.subs.closeAll()
		err = l.backend.Close()
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
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			l.ctx = ctx
			l.drain()
			l.logErr("flush usage", l.flush(true))
			cancel()
			if n := len(l.held); n > 0 {
				l.dropped.Add(uint64(n))
				l.logger.Error("event log: events lost at shutdown: the backend refused them", "events", n)
			}
			return
		case <-w.C:
			l.drain()
		case done := <-l.syncs:
			l.drain()
			l.sample()
			err := l.flush(true)
			if err == nil && len(l.held) > 0 {
				err = usher.Errorf(usher.EUnavailable, "%d events could not be stored yet; the server keeps trying", len(l.held))
			}
			done <- err
		case <-t.C:
			l.drain()
			l.sample()
			// The current minute too, so that a node's death costs at
			// most a tick of usage.
			l.logErr("flush usage", l.flush(true))
			l.prune()
		}
	}
}

func (l *Log) logErr(what string, err error) {
	if err != nil {
		l.logger.Error("event log: "+what, "err", err)
	}
}

// drain stores everything queued (and anything the backend refused
// before) in one batch, counts it in the usage and hands it to the
// subscribers. A batch the backend refuses is kept and tried again at the
// next drain, up to the queue's limit; events beyond it are dropped,
// oldest first, and counted.
func (l *Log) drain() {
	taken := l.queue.take(l.spare)
	batch := taken
	if len(l.held) > 0 {
		batch = append(l.held, taken...)
	}
	if len(batch) > 0 {
		ctx, cancel := context.WithTimeout(l.ctx, backendTimeout)
		start := time.Now()
		rest, err := l.store(ctx, batch)
		cancel()
		if err == nil && l.logger.Enabled(context.Background(), slog.LevelDebug) { // failures: see hold
			l.logger.LogAttrs(context.Background(), slog.LevelDebug, "event log: batch stored",
				slog.Int("events", len(batch)), slog.Duration("duration", time.Since(start)))
		}
		switch {
		case err != nil:
			l.hold(rest, err)
		case len(l.held) > 0:
			clear(batch) // batch is held's array
			l.held = batch[:0]
		}
	}
	clear(taken) // let go of the strings until the buffer is reused
	l.spare = taken[:0]
	var held int64
	if len(l.held) > 0 {
		held = eventsSize(l.held)
	}
	l.queue.holding(held)
	l.reportDrops()
}

// reportDrops logs once when events start being dropped, rather than once
// per event, and once more when none has been dropped for dropsQuiet.
func (l *Log) reportDrops() {
	n := l.dropped.Load()
	switch {
	case n > l.dropsSeen:
		l.lastDrop = l.now()
		if !l.dropping {
			l.dropping = true
			l.logger.Error("event log: queue full: dropping events until the backend stores them again; counted in usher_events_dropped_total",
				"queue_bytes", l.queue.maxBytes, "queue_events", l.queue.limit)
		}
	case l.dropping && l.now().Sub(l.lastDrop) >= dropsQuiet:
		l.dropping = false
		l.logger.Warn("event log: no more events dropped", "dropped", n-l.dropsDone)
		l.dropsDone = n
	}
	l.dropsSeen = n
}

// store hands batch to the backend, counts and publishes what it stored,
// and returns what it did not.
func (l *Log) store(ctx context.Context, batch []usher.Event) ([]usher.Event, error) {
	for len(batch) > 0 {
		first, n, err := l.backend.Append(ctx, batch)
		if err == nil && (n < 1 || n > len(batch)) {
			err = fmt.Errorf("the event store reported %d of %d events stored", n, len(batch))
		}
		if err != nil {
			return batch, err
		}
		if l.failing {
			l.failing = false
			l.logger.Info("event log: storing events again")
		}
		stored := batch[:n]
		for i := range stored {
			l.usage.observe(&stored[i])
			stored[i].InUse = 0 // not stored, so not streamed either
		}
		if l.follower != nil {
			l.appended.Store(first + int64(n) - 1)
		} else {
			l.subs.publish(stored, first)
		}
		batch = batch[n:]
	}
	return nil, nil
}

// hold keeps events the backend refused for the next drain.
func (l *Log) hold(batch []usher.Event, err error) {
	if !l.failing {
		l.failing = true
		l.logger.Error("event log: store events; keeping them to try again", "events", len(batch), "err", err)
	}
	l.held = append(l.held[:0], batch...) // batch may be held's own array
	if over := len(l.held) - l.queue.limit; over > 0 {
		l.dropped.Add(uint64(over))
		n := copy(l.held, l.held[over:])
		clear(l.held[n:])
		l.held = l.held[:n]
	}
}

// flush stores the counted usage, within the writer's bound.
func (l *Log) flush(all bool) error {
	ctx, cancel := context.WithTimeout(l.ctx, backendTimeout)
	defer cancel()
	return l.flushUsage(ctx, all)
}

// prune deletes what is older than the retention, at most once a minute.
func (l *Log) prune() {
	now := l.now()
	if now.Sub(l.lastPrune) < time.Minute {
		return
	}
	l.lastPrune = now
	ctx, cancel := context.WithTimeout(l.ctx, backendTimeout)
	defer cancel()
	l.logErr("prune", l.Prune(ctx))
}

// Prune deletes events and usage older than their retention now, instead
// of waiting for the next periodic pass.
func (l *Log) Prune(ctx context.Context) error {
	now := l.now()
	return l.backend.Prune(ctx, now.Add(-time.Duration(l.retention.Load())), now.Add(-time.Duration(l.usageRetention.Load())))
}
