package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// testReleasedRoundTrip checks that released licenses outlive a reopen
// with their time and receipt, and that a second record of one ID
// replaces the first.
func testReleasedRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	at := time.Date(2026, 12, 1, 5, 0, 0, 123456789, time.UTC)
	recs := []usher.ReleasedLicense{
		{ID: "lic_a", ReleasedAt: at, Receipt: []byte("receipt a\n")},
		{ID: "lic_b", ReleasedAt: at.Add(time.Minute), Receipt: []byte("receipt b\n")},
	}
	for _, r := range recs {
		if err := s.PutReleased(ctx, r); err != nil {
			t.Fatalf("PutReleased: %v", err)
		}
	}
	recs[1].Receipt = []byte("receipt b, again\n")
	if err := s.PutReleased(ctx, recs[1]); err != nil {
		t.Fatalf("PutReleased again: %v", err)
	}
	s = reopen(t, s, open)
	got := map[string]usher.ReleasedLicense{}
	for _, r := range mustLoad(t, s).Released {
		got[r.ID] = r
	}
	if len(got) != len(recs) {
		t.Fatalf("got %d released licenses after reopen, want %d: %+v", len(got), len(recs), got)
	}
	for _, want := range recs {
		r := got[want.ID]
		if !r.ReleasedAt.Equal(want.ReleasedAt) || !bytes.Equal(r.Receipt, want.Receipt) {
			t.Fatalf("got released %+v, want %+v", r, want)
		}
	}
}
