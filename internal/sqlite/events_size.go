package sqlite

import (
	"context"
	"fmt"
)

// DefaultEventsMaxSize is the size events.db is kept under unless
// SetMaxSize says otherwise: 1 GiB, as the event_max_size key.
const DefaultEventsMaxSize = 1 << 30

// trimBatch is the most events one transaction of trimToSize deletes, so
// that the writer's inserts never wait long for it.
const trimBatch = 50_000

// SetMaxSize bounds the event database: every Prune deletes the oldest
// events, in batches, until the pages in use take at most n bytes (and
// a sixteenth less, so that a pass is not needed every minute). A
// non-positive n keeps DefaultEventsMaxSize. Call it before the Log opens
// on the backend.
//
// Space is not given back to the file system: SQLite reuses the pages that
// deleted events free, so the file stops growing at about n bytes, plus
// what a minute of events takes between two passes (and the -wal file
// beside it). A file that grew past a lower bound set later keeps its
// size, mostly free pages; VACUUM shrinks it while the server is stopped.
func (b *Events) SetMaxSize(n int64) {
	if n <= 0 {
		n = DefaultEventsMaxSize
	}
	b.maxSize = n
}

// usedBytes returns what the database's pages in use take: its pages less
// the free ones. Both counts are in its header, so this reads no table.
func (b *Events) usedBytes(ctx context.Context) (int64, error) {
	var n int64
	err := b.db.QueryRowContext(ctx, `SELECT (p.page_count - f.freelist_count) * s.page_size
		FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s`).Scan(&n)
	return n, err
}

// trimToSize deletes the oldest events while the pages in use take more
// than the bound, each batch sized from the bytes an event takes on
// average. It stops when none are left (usage history alone is over the
// bound) or ctx ends; the next pass goes on from there.
func (b *Events) trimToSize(ctx context.Context) error {
	target := b.maxSize - b.maxSize/16
	for over := false; ; over = true {
		used, err := b.usedBytes(ctx)
		if err != nil {
			return err
		}
		if used <= b.maxSize && !over || used <= target {
			return nil
		}
		var first, last int64
		if err := b.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM events`).Scan(&first, &last); err != nil {
			return err
		}
		if last == 0 {
			return nil
		}
		perEvent := max(used/(last-first+1), 1)
		n := min((used-target)/perEvent+1, trimBatch)
		if err := b.deleteBelow(ctx, first+n); err != nil {
			return fmt.Errorf("delete the oldest events to keep under %d bytes: %w", b.maxSize, err)
		}
	}
}
