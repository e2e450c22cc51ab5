package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
)

// Record is one entry of an append-only history stream, such as the audit
// log or usage samples. Data is opaque to the store.
type Record struct {
	Time time.Time
	Data []byte
}

// Records of a stream are keyed by time, so that a time range is a key
// range and retention is one range deletion:
//
//	/usher/<cluster>/history/<stream>/<unix nanoseconds, 20 digits>-<seq>
func (s *Store) historyPrefix(stream string) string { return s.prefix + "history/" + stream + "/" }

func (s *Store) historyKey(stream string, t time.Time, seq string) string {
	return fmt.Sprintf("%s%020d-%s", s.historyPrefix(stream), t.UnixNano(), seq)
}

func validStream(stream string) error {
	if stream == "" || strings.ContainsAny(stream, "/\x00") {
		return usher.Errorf(usher.EInvalid, "history stream name %q must be non-empty and contain no '/'", stream)
	}
	return nil
}

// Append stores records durably in a stream, fenced like every other
// write. Records without a time get the store's clock.
func (s *Store) Append(ctx context.Context, stream string, recs ...Record) error {
	if err := validStream(stream); err != nil {
		return err
	}
	if len(recs) > MaxTxnOps {
		return usher.Errorf(usher.EInvalid, "at most %d records per append", MaxTxnOps)
	}
	puts := make([]clientv3.Op, len(recs))
	for i, r := range recs {
		if r.Time.IsZero() {
			r.Time = s.opts.Now()
		}
		puts[i] = clientv3.OpPut(s.historyKey(stream, r.Time, usher.NewLeaseID()[3:]), string(r.Data))
	}
	return s.submit(ctx, &op{puts: puts})
}

// History returns up to limit records of a stream with from <= Time < to,
// oldest first. A zero to means no upper bound; limit <= 0 means no limit.
func (s *Store) History(ctx context.Context, stream string, from, to time.Time, limit int) ([]Record, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	end := clientv3.GetPrefixRangeEnd(s.historyPrefix(stream))
	if !to.IsZero() {
		end = s.historyKey(stream, to, "")
	}
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, s.historyKey(stream, from, ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("read history %s from etcd: %w", stream, err)
	}
	out := make([]Record, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), s.historyPrefix(stream))
		var ns int64
		if _, err := fmt.Sscanf(name[:min(20, len(name))], "%d", &ns); err != nil {
			return nil, fmt.Errorf("history key %s: %w", kv.Key, err)
		}
		out = append(out, Record{Time: time.Unix(0, ns).UTC(), Data: kv.Value})
	}
	return out, nil
}

// Trim deletes the records of a stream older than before: the retention
// policy of a stream is whatever its owner passes here periodically. It
// returns how many records it deleted.
func (s *Store) Trim(ctx context.Context, stream string, before time.Time) (int64, error) {
	if err := validStream(stream); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	txn := s.cli.Txn(ctx)
	if f := s.opts.Fence; f != nil {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Revision))
	}
	del := clientv3.OpDelete(s.historyKey(stream, time.Unix(0, 0), ""), clientv3.WithRange(s.historyKey(stream, before, "")))
	resp, err := txn.Then(del).Commit()
	if err != nil {
		return 0, fmt.Errorf("trim history %s in etcd: %w", stream, err)
	}
	if !resp.Succeeded {
		return 0, ErrFenced
	}
	return resp.Responses[0].GetResponseDeleteRange().Deleted, nil
}
