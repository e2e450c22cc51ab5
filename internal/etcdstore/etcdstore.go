// Package etcdstore is Usher's cluster store: licenses and leases (Store),
// users, API tokens, runtime settings and secrets (Shared), and the event
// and usage history (History), kept in etcd under one key prefix per
// cluster. Concurrent changes are committed together in one etcd
// transaction (group commit, see package groupcommit), and every
// transaction can carry a fence: it applies only while the writer still
// holds its election key, so a node that has lost its role can never make
// a change durable.
package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/groupcommit"
)

// MaxTxnOps is the most operations one transaction carries unless
// Options.MaxTxnOps says otherwise. It is etcd's default --max-txn-ops, so
// the store works against any etcd left at its defaults.
const MaxTxnOps = 128

// writers is how many transactions may be in flight at once. The Ledger
// never has two dependent changes in flight together (a lease is deleted
// only once its put is durable), so transactions may commit in any order.
const writers = 8

// writeTimeout bounds one transaction. A transaction that times out may
// still commit; the store then reports the failure to OnFailure so the
// owner can reload the truth.
const writeTimeout = 5 * time.Second

// ErrClosed is returned by calls made after Close.
var ErrClosed = groupcommit.ErrClosed

// ErrFenced is returned when a write's fence failed: the node that made
// it no longer decides for the cluster, so the change was not applied.
var ErrFenced = &usher.Error{Code: usher.EUnavailable, Message: "this node no longer decides for the cluster, so nothing was changed: retry, and the request will reach the node that decides now"}

// Fence makes every write conditional on an election key still having the
// create revision it had when this node won the election.
type Fence struct {
	Key      string
	Revision int64
}

// Options configure a Store.
type Options struct {
	// Cluster names the cluster; its keys live under /usher/<Cluster>/.
	Cluster string
	// Fence, if set, guards every write.
	Fence *Fence
	// OnFailure, if set, is called (outside any lock) when a write fails
	// or is fenced off. A failed write may still have been applied, so the
	// owner should stop deciding and reload from etcd.
	OnFailure func(error)
	// MaxTxnOps bounds the operations of one transaction; default
	// MaxTxnOps. Set it to the etcd server's --max-txn-ops when that is
	// higher: fewer, larger transactions cost etcd less.
	MaxTxnOps int
	// Logger receives each committed batch at debug level and each failed
	// one at error level; defaults to discarding.
	Logger *slog.Logger
}

// Store is the etcd implementation of usher.Store. It does not own the
// etcd client: Close stops its writers and leaves the client open.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	opts    Options
	writers *groupcommit.Batcher[op]
}

var _ usher.Store = (*Store)(nil)

// op is one change waiting for a writer.
type op struct {
	puts    []clientv3.Op // applied together with other ops' puts
	deletes []string      // keys to delete
}

func (o op) size() int { return len(o.puts) + len(o.deletes) }

// Prefix returns the key prefix of a cluster's data.
func Prefix(cluster string) string { return "/usher/" + cluster + "/" }

// New returns a store on cli and starts its writers. Close stops them.
func New(cli *clientv3.Client, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = MaxTxnOps
	}
	s := &Store{cli: cli, prefix: Prefix(opts.Cluster), opts: opts}
	s.writers = groupcommit.New(groupcommit.Options[op]{
		Commit: s.commitReporting, Workers: writers, MaxSize: opts.MaxTxnOps,
		Size: op.size, Name: "etcd", Logger: opts.Logger,
	})
	return s
}

// Close stops the writers after the transactions in flight. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.writers.Close()
	return nil
}

// commitReporting commits a batch and reports a failure to OnFailure.
func (s *Store) commitReporting(batch []op) error {
	err := s.commit(batch)
	if err != nil && s.opts.OnFailure != nil {
		s.opts.OnFailure(err)
	}
	return err
}

// commit applies a batch in transactions of at most MaxTxnOps operations.
// Only a single oversized deletion needs more than one.
func (s *Store) commit(batch []op) error {
	var ops []clientv3.Op
	for _, o := range batch {
		ops = append(ops, o.puts...)
		for _, k := range o.deletes {
			ops = append(ops, clientv3.OpDelete(k))
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), s.opts.MaxTxnOps)
		if err := s.txn(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

func (s *Store) txn(ops []clientv3.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	resp, err := s.sendTxn(ctx, ops)
	for err != nil && isDropped(err) && ctx.Err() == nil {
		// Raft dropped the proposal (during a leadership transfer, say):
		// it was never applied, so sending it again is safe.
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		resp, err = s.sendTxn(ctx, ops)
	}
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "etcd did not confirm the change (%v): check that a majority of the cluster is up, then retry", err)
	}
	if !resp.Succeeded {
		return ErrFenced
	}
	return nil
}

// sendTxn sends one fenced transaction.
func (s *Store) sendTxn(ctx context.Context, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	txn := s.cli.Txn(ctx)
	if f := s.opts.Fence; f != nil {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Revision))
	}
	return txn.Then(ops...).Commit()
}

// isDropped reports whether etcd refused a proposal before logging it.
func isDropped(err error) bool { return strings.Contains(err.Error(), "raft proposal dropped") }

// storedLease is a lease as kept in etcd. Heartbeats are not stored.
type storedLease struct {
	ID       string       `json:"id"`
	Feature  string       `json:"feature"`
	Client   usher.Client `json:"client"`
	IssuedAt time.Time    `json:"issued_at"`
	Owner    usher.Owner  `json:"owner,omitzero"`    // absent in leases of earlier releases
	Addr     string       `json:"address,omitempty"` // absent in leases of earlier releases
	// Terms are those of the licensing models; absent for a plain lease.
	Terms *usher.LeaseTerms `json:"terms,omitempty"`
}

func (s *Store) leaseKey(id string) string   { return s.prefix + "leases/" + id }
func (s *Store) licenseKey(id string) string { return s.prefix + "licenses/" + id }

// PutLease stores a lease durably.
func (s *Store) PutLease(ctx context.Context, l usher.Lease) error {
	sl := storedLease{ID: l.ID, Feature: l.Feature, Client: l.Client, IssuedAt: l.IssuedAt.UTC(), Owner: l.Owner, Addr: l.Addr}
	if l.LeaseTerms != (usher.LeaseTerms{}) {
		sl.Terms = &l.LeaseTerms
	}
	b, err := json.Marshal(sl)
	if err != nil {
		return fmt.Errorf("encode lease: %w", err)
	}
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(s.leaseKey(l.ID), string(b))}})
}

// DeleteLeases removes leases durably.
func (s *Store) DeleteLeases(ctx context.Context, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.leaseKey(id)
	}
	return s.writers.Submit(ctx, op{deletes: keys})
}

// PutLicense stores a license durably.
func (s *Store) PutLicense(ctx context.Context, rec usher.LicenseRecord) error {
	return s.writers.Submit(ctx, op{puts: []clientv3.Op{clientv3.OpPut(s.licenseKey(rec.ID), string(rec.Text))}})
}

// DeleteLicense removes a license durably.
func (s *Store) DeleteLicense(ctx context.Context, id string) error {
	return s.writers.Submit(ctx, op{deletes: []string{s.licenseKey(id)}})
}

// Load reads licenses and leases at one revision, with a linearizable
// read: it sees every change acknowledged before it started.
func (s *Store) Load(ctx context.Context) (*usher.Snapshot, error) {
	lics, err := s.cli.Get(ctx, s.prefix+"licenses/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("load licenses from etcd: %w", err)
	}
	leases, err := s.cli.Get(ctx, s.prefix+"leases/", clientv3.WithPrefix(), clientv3.WithRev(lics.Header.Revision))
	if err != nil {
		return nil, fmt.Errorf("load leases from etcd: %w", err)
	}
	snap := &usher.Snapshot{}
	if snap.Bans, err = s.loadBans(ctx, lics.Header.Revision); err != nil {
		return nil, err
	}
	if err := s.loadAccess(ctx, lics.Header.Revision, snap); err != nil {
		return nil, err
	}
	if snap.Released, err = s.loadReleased(ctx, lics.Header.Revision); err != nil {
		return nil, err
	}
	if err := s.loadMeter(ctx, lics.Header.Revision, snap); err != nil {
		return nil, err
	}
	for _, kv := range lics.Kvs {
		id := strings.TrimPrefix(string(kv.Key), s.prefix+"licenses/")
		snap.Licenses = append(snap.Licenses, usher.LicenseRecord{ID: id, Text: kv.Value})
	}
	for _, kv := range leases.Kvs {
		var sl storedLease
		if err := json.Unmarshal(kv.Value, &sl); err != nil {
			return nil, fmt.Errorf("load lease %s: %w", kv.Key, err)
		}
		ls := usher.Lease{ID: sl.ID, Feature: sl.Feature, Client: sl.Client, IssuedAt: sl.IssuedAt, Owner: sl.Owner, Addr: sl.Addr}
		if sl.Terms != nil {
			ls.LeaseTerms = *sl.Terms
		}
		snap.Leases = append(snap.Leases, ls)
	}
	return snap, nil
}

// IsFenced reports whether err is a write refused by the fence.
func IsFenced(err error) bool {
	var e *usher.Error
	return errors.As(err, &e) && e == ErrFenced
}
