// Package groupcommit commits the changes of concurrent callers together
// (group commit), so that many changes share one durable write: a checkout
// waits for one fsync or one etcd round trip, shared with every checkout
// made meanwhile, rather than for its own. Both of Usher's stores, SQLite
// and etcd, queue their changes through one Batcher.
package groupcommit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = &usher.Error{Code: usher.EUnavailable, Message: "the store is closed: the server is shutting down"}

// Options configure a Batcher of changes of type T.
type Options[T any] struct {
	// Commit makes a batch durable, all or nothing, and reports the
	// outcome, which every change of the batch gets. It is called by one
	// worker at a time per batch; with several workers, batches commit
	// concurrently and in any order.
	Commit func(batch []T) error
	// Workers is how many batches may commit at once; default 1.
	Workers int
	// MaxSize bounds the size of one batch; default 4096. A change larger
	// than MaxSize on its own is committed alone.
	MaxSize int
	// Size returns a change's share of MaxSize; nil counts one per change.
	Size func(T) int
	// Name names the store in log records.
	Name string
	// Logger receives each batch at debug level and each failed batch at
	// error level; default discards.
	Logger *slog.Logger
}

// DefaultMaxSize is Options.MaxSize unless set.
const DefaultMaxSize = 4096

// Batcher queues changes and commits those queued while a worker was
// busy in one batch. Its methods are safe for concurrent use.
type Batcher[T any] struct {
	opts  Options[T]
	items chan item[T]
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// item is one change waiting for a worker; done receives its outcome.
type item[T any] struct {
	change T
	done   chan error
}

// New starts a Batcher's workers. Close stops them.
func New[T any](opts Options[T]) *Batcher[T] {
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Batcher[T]{opts: opts, items: make(chan item[T]), quit: make(chan struct{})}
	b.wg.Add(opts.Workers)
	for range opts.Workers {
		go b.run()
	}
	return b
}

// Submit queues a change and waits until its batch is committed, and
// returns the batch's outcome. Once queued, a change is committed even if
// ctx ends; ctx bounds only the queueing. After Close it returns
// ErrClosed.
func (b *Batcher[T]) Submit(ctx context.Context, change T) error {
	done := make(chan error, 1)
	select {
	case b.items <- item[T]{change: change, done: done}:
	case <-b.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}

// Close stops the workers after the batches in flight. It is safe to call
// more than once.
func (b *Batcher[T]) Close() {
	b.once.Do(func() {
		close(b.quit)
		b.wg.Wait()
	})
}

// run is one worker: it takes every change queued while it was busy, up to
// MaxSize, and commits them together.
func (b *Batcher[T]) run() {
	defer b.wg.Done()
	batch := make([]T, 0, 64)
	dones := make([]chan error, 0, 64)
	var next item[T]
	carried := false
	for {
		first := next
		if !carried {
			select {
			case <-b.quit:
				return
			case first = <-b.items:
			}
		}
		batch, dones = append(batch[:0], first.change), append(dones[:0], first.done)
		batch, dones, next, carried = b.fill(batch, dones, b.size(first.change))
		b.commit(batch, dones)
	}
}

// fill adds the changes already queued to a batch of size n, up to
// MaxSize. A change that does not fit is returned, carried, to start the
// next batch.
func (b *Batcher[T]) fill(batch []T, dones []chan error, n int) ([]T, []chan error, item[T], bool) {
	for n < b.opts.MaxSize {
		select {
		case it := <-b.items:
			size := b.size(it.change)
			if n+size > b.opts.MaxSize {
				return batch, dones, it, true
			}
			batch, dones, n = append(batch, it.change), append(dones, it.done), n+size
		default:
			return batch, dones, item[T]{}, false
		}
	}
	return batch, dones, item[T]{}, false
}

func (b *Batcher[T]) size(change T) int {
	if b.opts.Size == nil {
		return 1
	}
	return b.opts.Size(change)
}

// commit commits a batch, logs it and hands every caller the outcome.
func (b *Batcher[T]) commit(batch []T, dones []chan error) {
	start := time.Now()
	err := b.opts.Commit(batch)
	b.log(len(batch), time.Since(start), err)
	for _, done := range dones {
		done <- err
	}
	clear(batch) // let go of what the changes reference
	clear(dones)
}

func (b *Batcher[T]) log(n int, took time.Duration, err error) {
	ctx := context.Background()
	if err != nil {
		b.opts.Logger.LogAttrs(ctx, slog.LevelError, "store batch failed", slog.String("store", b.opts.Name),
			slog.Int("changes", n), slog.Duration("duration", took), slog.Any("err", err))
		return
	}
	if b.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		b.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "store batch committed", slog.String("store", b.opts.Name),
			slog.Int("changes", n), slog.Duration("duration", took))
	}
}
