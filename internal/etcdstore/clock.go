package etcdstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// clockKey holds the latest wall-clock time a node of the cluster has
// seen, as Unix nanoseconds in 20 decimal digits, so that etcd's byte
// comparison orders the values as numbers.
func (s *Shared) clockKey() string { return s.prefix + "clock/latest" }

func encodeClock(t time.Time) string { return fmt.Sprintf("%020d", max(t.UnixNano(), 0)) }

// LatestTime returns the latest time stored by RaiseLatestTime; zero if
// none was.
func (s *Shared) LatestTime(ctx context.Context) (time.Time, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.clockKey())
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read the latest time seen from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return time.Time{}, nil
	}
	ns, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("etcd key %s: %w", s.clockKey(), err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// RaiseLatestTime stores t as the latest time seen, unless a later one is
// stored already: a node with a clock set back never lowers it.
func (s *Shared) RaiseLatestTime(ctx context.Context, t time.Time) error {
	key, v := s.clockKey(), encodeClock(t)
	err := retry(ctx, func() error {
		_, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, v)).
			Else(clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Value(key), "<", v)},
				[]clientv3.Op{clientv3.OpPut(key, v)}, nil)).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("store the latest time seen in etcd: %w", err)
	}
	return nil
}
