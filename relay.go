package usher

import (
	"context"
	"slices"
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
//
// A block held as several leases upstream lists them in Parts, each with
// its own end; Seats and Until then only sum them up. The ledger serves
// each part until its own end, and ends local leases beyond the seats
// still backed (see Reclaim), so that a part that ends takes its seats
// with it at once, whoever holds them.
type Block struct {
	Feature string
	Seats   int
	Until   time.Time
	Parts   []BlockPart
}

// BlockPart is one lease of a block upstream: seats until Until.
type BlockPart struct {
	Seats int
	Until time.Time
}

// Equal reports whether b and o are the same block.
func (b Block) Equal(o Block) bool {
	return b.Feature == o.Feature && b.Seats == o.Seats && b.Until.Equal(o.Until) && slices.Equal(b.Parts, o.Parts)
}

// grants returns the block as grants, one per part. Grants count whole
// seconds and include their last one, so a grant ends on the second
// before its Until. A block with no Until has no end (one of no seats,
// while the upstream has none).
func (b Block) grants() []Grant {
	if len(b.Parts) == 0 {
		return []Grant{blockGrant(b.Feature, b.Seats, b.Until)}
	}
	out := make([]Grant, 0, len(b.Parts))
	for _, p := range b.Parts {
		out = append(out, blockGrant(b.Feature, p.Seats, p.Until))
	}
	return out
}

func blockGrant(feature string, seats int, until time.Time) Grant {
	g := Grant{Feature: feature, Seats: seats}
	if !until.IsZero() {
		g.ExpiresAt = until.Add(-time.Second).Truncate(time.Second)
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
		// The parts given back are the relay's to choose: until it sets
		// the block again, it serves the seats left until the first end.
		if len(b.Parts) > 0 {
			b.Until = b.Parts[0].Until
			for _, p := range b.Parts {
				if p.Until.Before(b.Until) {
					b.Until = p.Until
				}
			}
		}
		b.Seats, b.Parts = seats, nil
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
		lic.Grants = append(lic.Grants, l.blocks[f].grants()...)
	}
	return lic
}

// takeUnbackedLocked passes to take, for every feature of a relay's blocks
// with more seats in use than its parts still back, the latest leases
// until the rest fit: a part that ended upstream (or was kicked there)
// takes its seats with it, and the leases last granted give them back.
func (l *Ledger) takeUnbackedLocked(now time.Time, take func(*entry)) {
	for f := range l.blocks {
		p := l.pools[f]
		if p == nil || l.inUse[f] == 0 {
			continue
		}
		seats, unlimited, err := p.capacity(now, f)
		if err != nil || unlimited || l.inUse[f] <= seats {
			continue // an ended block ends every lease (takeExpiredFeaturesLocked)
		}
		// Leases ending already (another sweep took them) free their
		// seats soon: they count as gone.
		excess := l.inUse[f] - seats
		var held []*entry
		for _, e := range l.leases {
			switch {
			case e.lease.Feature != f:
			case e.ending != nil:
				excess -= e.lease.seats()
			default:
				held = append(held, e)
			}
		}
		slices.SortFunc(held, func(a, b *entry) int { return b.lease.IssuedAt.Compare(a.lease.IssuedAt) })
		for _, e := range held {
			if excess <= 0 {
				break
			}
			take(e)
			excess -= e.lease.seats()
		}
	}
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
