package usher

import (
	"context"
	"time"
)

// A relay is a server whose seats come from another server, its upstream:
// it holds blocks of seats leased there and answers its own clients from
// them (docs/relay.md). The ledger of a relay counts its local leases as
// usual; what it counts them against is the blocks, set by the code that
// holds them upstream, instead of licenses.

// relayLicense names the blocks' grants in the leases they serve.
const relayLicense = "upstream"

// Block is the seats of one feature a relay holds from its upstream, and
// how long it may serve them: until the upstream would reclaim them,
// counted from the last time it confirmed them. A block of no seats with
// no Until names a feature the upstream has no seat of now.
type Block struct {
	Feature string
	Seats   int
	Until   time.Time
}

// grant returns the block as a grant. Grants count whole seconds and
// include their last one, so the grant ends on the second before Until.
// A block with no Until has no end (one of no seats, while the upstream
// has none).
func (b Block) grant() Grant {
	g := Grant{Feature: b.Feature, Seats: b.Seats}
	if !b.Until.IsZero() {
		g.ExpiresAt = b.Until.Add(-time.Second).Truncate(time.Second)
	}
	return g
}

// BlockSupplier grows a relay's blocks: the ledger asks it before it
// refuses a checkout for want of seats.
type BlockSupplier interface {
	// Grow asks the upstream for enough seats of feature that seats more
	// than are in use now are free, and sets the grown block (SetBlock)
	// before it returns. Its error is the upstream's refusal, which the
	// checkout answers.
	Grow(ctx context.Context, feature string, seats int) error
}

// SetBlock sets the block of a feature: its seats are served until Until;
// after it the feature is expired here and its leases end (see Reclaim).
// A block of no seats that has ended is forgotten. To lower a block's
// seats use ShrinkBlock, which never goes below the seats in use.
func (l *Ledger) SetBlock(b Block) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocks == nil {
		l.blocks = make(map[string]Block)
	}
	if b.Seats <= 0 && !b.Until.IsZero() && !b.Until.After(l.now()) && l.inUse[b.Feature] == 0 {
		delete(l.blocks, b.Feature)
	} else {
		l.blocks[b.Feature] = b
	}
	l.rebuildPoolsLocked()
	l.serveQueueLocked(b.Feature, l.tick())
}

// ShrinkBlock lowers the seats of a feature's block to seats, unless more
// are in use (counting grants still being stored).
//
// Errors: ENoSeats when more seats are in use, EFeatureNotFound when the
// feature has no block.
func (l *Ledger) ShrinkBlock(feature string, seats int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.blocks[feature]
	if !ok {
		return Errorf(EFeatureNotFound, "feature %s has no block on this relay", feature)
	}
	if n := l.inUse[feature]; n > seats {
		return Errorf(ENoSeats, "%d seats of feature %s are in use: the block cannot shrink to %d", n, feature, seats)
	}
	if seats < b.Seats {
		b.Seats = seats
		l.blocks[feature] = b
		l.rebuildPoolsLocked()
	}
	return nil
}

// SeatsInUse returns the seats of a feature in use, counting grants still
// being stored.
func (l *Ledger) SeatsInUse(feature string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse[feature]
}

// HasWaiters reports whether clients wait in line for feature.
func (l *Ledger) HasWaiters(feature string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[feature]
	return q != nil && q.Len() > 0
}

// blockLicenseLocked returns the blocks as one license, for the pools, or
// nil when the ledger holds none.
func (l *Ledger) blockLicenseLocked() *License {
	if len(l.blocks) == 0 {
		return nil
	}
	lic := &License{ID: relayLicense}
	for _, f := range sortedKeys(l.blocks) {
		lic.Grants = append(lic.Grants, l.blocks[f].grant())
	}
	return lic
}

// maxGrows bounds how often one checkout asks a relay's upstream for
// seats: a seat grown for it may go to another checkout first.
const maxGrows = 3

// suppliedBy reports whether a checkout refused with err may succeed once
// the relay's block grows: the feature has no block yet, its block is full,
// or its block ended while the upstream could not be reached.
func suppliedBy(err error) bool {
	switch ErrorCode(err) {
	case ENoSeats, EFeatureNotFound, EFeatureExpired:
		return true
	}
	return false
}

// grow asks the supplier for the seats req needs, the grows-th time for
// it, and returns the count of asks so far. A nil error means: try the
// checkout again. A checkout that waits in line when the upstream has no
// seat asks no more (the relay grows the block for those waiting).
func (l *Ledger) grow(ctx context.Context, req CheckoutRequest, grows int) (int, error) {
	err := l.supply.Grow(ctx, req.Feature, max(req.Count, 1))
	switch {
	case err == nil:
		return grows + 1, nil
	case ErrorCode(err) == ENoSeats && req.Wait > 0:
		return maxGrows, nil
	}
	return grows + 1, err
}

// relayRefuses returns the error for what a relay does not serve: its
// blocks are plain seats, so borrowing and versions stay with the
// upstream (docs/relay.md).
func (l *Ledger) relayRefuses(req CheckoutRequest) error {
	switch {
	case l.supply == nil:
		return nil
	case req.Borrow != 0:
		return Errorf(EBorrowNotAllowed, "feature %s cannot be borrowed through a relay: borrow it from the upstream server directly", req.Feature)
	case req.Version != "":
		return Errorf(EInvalid, "a relay serves plain seats of feature %s, not a version: check version %s out from the upstream server directly", req.Feature, req.Version)
	}
	return nil
}
