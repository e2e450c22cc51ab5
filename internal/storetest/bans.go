package storetest

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// testBanRoundTrip checks that bans outlive a reopen, that putting one
// with the same ID replaces it, and that deleted ones stay gone.
func testBanRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	at := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	bans := []usher.Ban{
		{ID: usher.BanID("cad", "alice", ""), Feature: "cad", User: "alice", CreatedAt: at, Until: at.Add(time.Hour)},
		{ID: usher.BanID("", "", "kiosk:1"), Host: "kiosk:1", CreatedAt: at, Until: at.Add(time.Minute)},
		{ID: usher.BanID("", "bob", "ws1"), User: "bob", Host: "ws1", CreatedAt: at, Until: at.Add(time.Second)},
	}
	for _, b := range bans {
		if err := s.PutBan(ctx, b); err != nil {
			t.Fatalf("PutBan: %v", err)
		}
	}
	bans[0].Until = at.Add(2 * time.Hour)
	if err := s.PutBan(ctx, bans[0]); err != nil {
		t.Fatalf("PutBan again: %v", err)
	}
	if err := s.DeleteBans(ctx, []string{bans[2].ID, "ban_missing"}); err != nil {
		t.Fatalf("DeleteBans: %v", err)
	}
	s = reopen(t, s, open)
	got := map[string]usher.Ban{}
	for _, b := range mustLoad(t, s).Bans {
		got[b.ID] = b
	}
	if len(got) != 2 {
		t.Fatalf("got %d bans after reopen, want 2: %+v", len(got), got)
	}
	for _, want := range bans[:2] {
		b := got[want.ID]
		if b.Feature != want.Feature || b.User != want.User || b.Host != want.Host ||
			!b.CreatedAt.Equal(want.CreatedAt) || !b.Until.Equal(want.Until) {
			t.Fatalf("got ban %+v, want %+v", b, want)
		}
	}
}
