package etcdstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

type mvccKV = mvccpb.KeyValue

// A batch of events is stored in a compact binary form, about a third of
// the size of JSON, since every checkout and release adds an event:
//
//	header: version byte, uvarint count, varint upto, varint min time,
//	        varint base time (times are Unix nanoseconds)
//	each event: varint time - base, then type, feature, lease id, client
//	        id, user, host as uvarint length + bytes, varint pid, then
//	        license id and reason as length + bytes, then (since version
//	        2) varint waited_ms
//
// Batches of version 1, without waited_ms, are still read.
const batchVersion = 2

// header is what a batch says of itself.
type header struct {
	version       byte
	count         int
	upto, minTime int64 // the counter's upto after this batch; its earliest event
	base          int64
}

// encodeBatch encodes events from the start of evs until the body reaches
// maxBytes (at least one event), raises *upto to the latest time among
// them, and returns the value and how many events it holds.
func encodeBatch(evs []usher.Event, upto *int64, maxBytes int) ([]byte, int) {
	base := evs[0].Time.UnixNano()
	body, n := encodeBody(evs, base, maxBytes)
	minT := base
	for i := range evs[:n] {
		t := evs[i].Time.UnixNano()
		minT, *upto = min(minT, t), max(*upto, t)
	}
	v := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(body))
	v = append(v, batchVersion)
	v = binary.AppendUvarint(v, uint64(n))
	v = binary.AppendVarint(v, *upto)
	v = binary.AppendVarint(v, minT)
	v = binary.AppendVarint(v, base)
	return append(v, body...), n
}

// encodeBody encodes events from the start of evs until the result
// reaches maxBytes, and returns it and how many it holds.
func encodeBody(evs []usher.Event, base int64, maxBytes int) ([]byte, int) {
	var b []byte
	n := 0
	for n < len(evs) && (n == 0 || len(b) < maxBytes) {
		ev := &evs[n]
		b = binary.AppendVarint(b, ev.Time.UnixNano()-base)
		for _, s := range [...]string{ev.Type, ev.Feature, ev.LeaseID, ev.Client.ID, ev.Client.User, ev.Client.Host} {
			b = appendString(b, s)
		}
		b = binary.AppendVarint(b, int64(ev.Client.PID))
		b = appendString(b, ev.LicenseID)
		b = appendString(b, ev.Reason)
		b = binary.AppendVarint(b, ev.WaitedMS)
		n++
	}
	return b, n
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errCorrupt = errors.New("not an event batch of this version of Usher")

// readHeader decodes a batch's header and returns it and its length.
func readHeader(v []byte) (header, int, error) {
	if len(v) == 0 || v[0] < 1 || v[0] > batchVersion {
		return header{}, 0, errCorrupt
	}
	r := reader{b: v, off: 1}
	hdr := header{version: v[0], count: int(r.uvarint()), upto: r.varint(), minTime: r.varint(), base: r.varint()}
	if r.err != nil || hdr.count < 1 {
		return header{}, 0, errCorrupt
	}
	return hdr, r.off, nil
}

// decodeBatch decodes a batch whose first event has id first.
func decodeBatch(v []byte, first int64) ([]eventlog.Record, header, error) {
	hdr, off, err := readHeader(v)
	if err != nil {
		return nil, header{}, err
	}
	if hdr.count > len(v) { // every event takes more than a byte
		return nil, header{}, errCorrupt
	}
	r := reader{b: v, off: off}
	out := make([]eventlog.Record, hdr.count)
	for i := range out {
		rec := &out[i]
		rec.ID = first + int64(i)
		rec.Time = time.Unix(0, hdr.base+r.varint()).UTC()
		for _, s := range [...]*string{&rec.Type, &rec.Feature, &rec.LeaseID, &rec.Client.ID, &rec.Client.User, &rec.Client.Host} {
			*s = r.string()
		}
		rec.Client.PID = int(r.varint())
		rec.LicenseID = r.string()
		rec.Reason = r.string()
		if hdr.version >= 2 {
			rec.WaitedMS = r.varint()
		}
	}
	if r.err != nil || r.off != len(v) {
		return nil, header{}, fmt.Errorf("%w: %d bytes of %d read", errCorrupt, r.off, len(v))
	}
	return out, hdr, nil
}

// reader decodes varints and strings, keeping the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.off += n
	return v
}

// varint decodes what binary.AppendVarint wrote: a zigzag-encoded uvarint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}
