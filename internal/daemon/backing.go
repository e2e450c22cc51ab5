package daemon

import (
	"context"
	"errors"

	usher "github.com/usher-lm/usher"

	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/webhook"
)

// Elector campaigns for this node to decide, and tells who decides. A
// single node's elector wins at once and its term never ends; a cluster
// node's is an election on etcd.
type Elector interface {
	// Campaign blocks until this node decides, or ctx ends.
	Campaign(ctx context.Context) (*cluster.Term, error)
	cluster.Directory
	// Status reports the cluster's state as this node sees it.
	Status(ctx context.Context) (cluster.Status, error)
}

// backing is what a node runs on, and the one thing that differs between a
// single node (one SQLite store in the data directory) and a node of a
// cluster (etcd, shared by every node). Everything else runs the same.
type backing struct {
	elector  Elector
	settings SettingsStore
	clock    ClockStore // the latest time seen; see clockwatch.go
	users    auth.Store
	history  eventlog.Backend // where the event log keeps events and usage
	webhooks webhook.Store    // the webhooks added at runtime and their outbox
	// identityLock, if set, keeps one server of an identity serving its
	// bound licenses across the backing's reach (the etcd of a cluster).
	identityLock usher.IdentityLock
	// sharedLog is set when history is shared by several nodes, whose
	// own events then name them.
	sharedLog bool
	// share returns the value of a secret every node must agree on: the
	// first one stored, mine when there was none.
	share func(ctx context.Context, name, mine string) (string, error)
	// watchSettings calls changed whenever another node may have changed
	// the runtime settings, until ctx ends.
	watchSettings func(ctx context.Context, changed func())
	// abort cuts the connection under a term that does not end (without
	// a quorum, resigning waits for one); kill stops as a crash would.
	abort, kill func()
	close       func() error
}

// openLocal opens a single node's backing: the SQLite databases in the
// data directory, the store on which this node decides alone and the
// event log's.
func (d *Daemon) openLocal(context.Context) (*backing, error) {
	store, err := sqlite.OpenOptions(d.cfg.Data, sqlite.Options{Logger: d.logger})
	if err != nil {
		return nil, err
	}
	history, err := sqlite.OpenEvents(d.cfg.Data)
	if err != nil {
		store.Close()
		return nil, err
	}
	history.SetMaxSize(int64(d.cfg.EventMaxSize))
	hooks, err := sqlite.OpenWebhooks(d.cfg.Data)
	if err != nil {
		store.Close()
		history.Close()
		return nil, err
	}
	self := cluster.Peer{Node: d.cfg.NodeNameOrHost(), URL: d.URL()}
	return &backing{
		elector: cluster.NewLocal(self, store), settings: store, clock: store, users: store, history: history, webhooks: hooks,
		share:         func(_ context.Context, _, mine string) (string, error) { return mine, nil },
		watchSettings: func(ctx context.Context, _ func()) { <-ctx.Done() },
		abort:         func() {},
		kill:          func() {},
		close:         func() error { return errors.Join(hooks.Close(), store.Close()) },
	}, nil
}
