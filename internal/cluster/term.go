package cluster

import (
	"context"
	"sync"

	usher "github.com/usher-lm/usher"
)

// Peer is a node as the others see it: its name, and where they forward
// requests to it.
type Peer struct {
	Node string
	URL  string
}

// Term is one period during which this node decides: its ledger runs on
// Store, and must stop when the term ends.
type Term struct {
	// Store is what the ledger of this term runs on. In a cluster, its
	// writes are fenced: they fail once the term has ended.
	Store usher.Store

	ctx     context.Context // ends with the term; Done is nil when it never ends
	confirm func(context.Context) error
	end     func()
	once    sync.Once
}

// Context ends when the term does.
func (t *Term) Context() context.Context { return t.ctx }

// Done is closed when the term ends; it is nil for a term that never ends
// (a single node's).
func (t *Term) Done() <-chan struct{} { return t.ctx.Done() }

// Confirm returns nil while the term still holds; it implements
// usher.Confirmer, so that the ledger refuses a seat only on confirmed
// state.
func (t *Term) Confirm(ctx context.Context) error {
	if t.confirm == nil {
		return nil
	}
	return t.confirm(ctx)
}

// End ends the term: it resigns, so that another node may take over, and
// closes the store. Safe to call twice.
func (t *Term) End() {
	t.once.Do(func() {
		if t.end != nil {
			t.end()
		}
	})
}

// Local is the elector of a single node, a one-member cluster: it wins at
// once, on its own store, and its term never ends.
type Local struct {
	self  Peer
	store usher.Store
}

// NewLocal returns the elector of a single node deciding on store.
func NewLocal(self Peer, store usher.Store) *Local { return &Local{self: self, store: store} }

// Campaign returns the node's term at once.
func (l *Local) Campaign(ctx context.Context) (*Term, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Term{Store: l.store, ctx: context.WithoutCancel(ctx)}, nil
}

// Follow reports that this node decides, then waits for ctx to end.
func (l *Local) Follow(ctx context.Context, fn func(Peer, bool, error)) {
	fn(l.self, true, nil)
	<-ctx.Done()
}

// Decider returns this node.
func (l *Local) Decider(context.Context) (Peer, bool, error) { return l.self, true, nil }
