package etcdstore

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// typicalEvents are checkouts and releases as usher bench makes them.
func typicalEvents(n int) []usher.Event {
	evs := make([]usher.Event, n)
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range evs {
		typ := usher.EventLeaseGranted
		if i%2 == 1 {
			typ = usher.EventLeaseReleased
		}
		evs[i] = usher.Event{Type: typ, Time: t.Add(time.Duration(i) * 97 * time.Microsecond), Feature: "cad",
			LeaseID: usher.NewLeaseID(), Client: usher.Client{ID: fmt.Sprintf("bench-c0ae912d-%d", i%128), User: "alice", Host: "ws-17.acme.example", PID: 4242}}
	}
	return evs
}

func TestBatchRoundTrip(t *testing.T) {
	evs := typicalEvents(300)
	evs[7].Reason, evs[8].LicenseID = "all seats of feature cad are in use", "lic_0123"
	evs[9].Time = evs[0].Time.Add(-time.Second) // before the first: a negative offset
	evs[10].WaitedMS = 2500
	upto := int64(0)
	v, n := encodeBatch(evs, &upto, 1<<20)
	if n != len(evs) {
		t.Fatalf("encoded %d of %d events", n, len(evs))
	}
	recs, hdr, err := decodeBatch(v, 41)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.upto != evs[len(evs)-1].Time.UnixNano() || hdr.minTime != evs[9].Time.UnixNano() {
		t.Errorf("header %+v", hdr)
	}
	for i, r := range recs {
		if r.ID != 41+int64(i) || r.Event != evs[i] {
			t.Fatalf("event %d: got %+v, want %+v", i, r, evs[i])
		}
	}
	for cut := range len(v) - 1 { // every truncation is refused, none panics
		if _, _, err := decodeBatch(v[:cut], 1); err == nil {
			t.Fatalf("a batch cut to %d of %d bytes decoded", cut, len(v))
		}
	}
	if _, small := encodeBatch(evs, &upto, 100); small < 1 || small >= len(evs) {
		t.Errorf("a 100-byte limit took %d events, want a few", small)
	}
}

// TestBatchVersion1 reads a batch stored before events carried how long
// a checkout waited in line.
func TestBatchVersion1(t *testing.T) {
	ev := typicalEvents(1)[0]
	body := binary.AppendVarint(nil, 0)
	for _, s := range [...]string{ev.Type, ev.Feature, ev.LeaseID, ev.Client.ID, ev.Client.User, ev.Client.Host} {
		body = appendString(body, s)
	}
	body = binary.AppendVarint(body, int64(ev.Client.PID))
	body = appendString(appendString(body, ""), "")
	tn := ev.Time.UnixNano()
	v := binary.AppendUvarint([]byte{1}, 1)
	v = binary.AppendVarint(binary.AppendVarint(binary.AppendVarint(v, tn), tn), tn)
	recs, _, err := decodeBatch(append(v, body...), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Event != ev || recs[0].ID != 5 {
		t.Fatalf("got %+v, want %+v", recs, ev)
	}
}

// BenchmarkEncodeBatch reports the size of a stored event, for the
// capacity figures in docs/cluster.md.
func BenchmarkEncodeBatch(b *testing.B) {
	evs := typicalEvents(maxBatchEvents)
	var size int
	for b.Loop() {
		upto := int64(0)
		v, _ := encodeBatch(evs, &upto, maxBatchBytes)
		size = len(v)
	}
	b.ReportMetric(float64(size)/float64(len(evs)), "B/event")
}
