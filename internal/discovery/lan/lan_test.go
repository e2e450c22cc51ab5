package lan_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

func TestRequestIsPaddedAndShortOnesAreRefused(t *testing.T) {
	b := lan.EncodeRequest(lan.Request{Nonce: "n1", Feature: "cad"}, lan.RequestSize)
	if len(b) != lan.RequestSize {
		t.Fatalf("request of %d bytes, want %d", len(b), lan.RequestSize)
	}
	r, err := lan.DecodeRequest(b)
	if err != nil || r.Nonce != "n1" || r.Feature != "cad" {
		t.Fatalf("DecodeRequest = %+v, %v", r, err)
	}
	short := lan.EncodeRequest(lan.Request{Nonce: "n1"}, 0)
	if _, err := lan.DecodeRequest(short); err == nil {
		t.Errorf("a request of %d bytes was accepted, want at least %d", len(short), lan.MinRequestSize)
	}
}

func TestReplyNeverExceedsTheBound(t *testing.T) {
	s := lan.Server{GUID: "g", Name: "n", Version: "v", URLs: []string{"http://:7420"}}
	for i := range 200 {
		s.Features = append(s.Features, strings.Repeat("f", 20)+string(rune('a'+i%26)))
	}
	max := lan.AmplificationFactor * lan.MinRequestSize
	b := lan.EncodeReply(s, max)
	if len(b) > max || len(b) == 0 {
		t.Fatalf("reply of %d bytes, want 1 to %d", len(b), max)
	}
	got, err := lan.DecodeReply(b)
	if err != nil || !got.Truncated || len(got.Features) == 0 || len(got.Features) >= len(s.Features) {
		t.Fatalf("got %d features, truncated %v (%v); want some of %d, truncated", len(got.Features), got.Truncated, err, len(s.Features))
	}
	if b := lan.EncodeReply(lan.Server{GUID: strings.Repeat("g", 100)}, 50); b != nil {
		t.Errorf("a reply that cannot fit was %d bytes, want none", len(b))
	}
}

func mustSession(t *testing.T, now time.Time) (*usher.Session, string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := usher.NewSession(key, now, 7*24*time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s, usher.ServerGUID(pub)
}

func TestAnnouncementSignature(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, guid := mustSession(t, now)
	a := lan.Announcement{GUID: guid, Instance: "i1", Seq: 7, Event: lan.EventStart, Licenses: []string{"L1"}}
	b := lan.EncodeAnnouncement(a, s)
	got, verr, err := lan.DecodeAnnouncement(b, now)
	if err != nil || verr != nil || got.Seq != 7 || got.Licenses[0] != "L1" {
		t.Fatalf("DecodeAnnouncement = %+v, %v, %v", got, verr, err)
	}
	if _, verr, _ := lan.DecodeAnnouncement(b, now.Add(30*24*time.Hour)); usher.ErrorCode(verr) != usher.EUntrustedServer {
		t.Errorf("with an expired certificate: %v, want %s", verr, usher.EUntrustedServer)
	}
	other, _ := mustSession(t, now)
	if _, verr, _ := lan.DecodeAnnouncement(lan.EncodeAnnouncement(a, other), now); usher.ErrorCode(verr) != usher.EUntrustedServer {
		t.Errorf("signed by another server than its GUID names: %v, want %s", verr, usher.EUntrustedServer)
	}
	// Change the body after signing: the signature no longer holds.
	var raw map[string]any
	json.Unmarshal(b[7:], &raw)
	a.Event = lan.EventStop
	body, _ := json.Marshal(a)
	raw["body"] = body
	forged, _ := json.Marshal(raw)
	if _, verr, err := lan.DecodeAnnouncement(append(b[:7:7], forged...), now); err != nil || usher.ErrorCode(verr) != usher.EUntrustedServer {
		t.Errorf("with a changed body: %v, %v; want %s", verr, err, usher.EUntrustedServer)
	}
}

func TestTieBreak(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := lan.Announcement{Instance: "b", Started: t0}
	later := lan.Announcement{Instance: "a", Started: t0.Add(time.Millisecond)}
	if !first.Wins(&later) || later.Wins(&first) {
		t.Errorf("the server that started first must win, and only it")
	}
	same := lan.Announcement{Instance: "a", Started: t0}
	if !same.Wins(&first) || first.Wins(&same) {
		t.Errorf("started at once: the smaller instance must win, and only it")
	}
}

func TestMergeJoinsURLsByGUID(t *testing.T) {
	got := lan.Merge(nil, lan.Server{GUID: "g", URLs: []string{"http://10.0.0.1:7420"}}, lan.Server{GUID: "h"},
		lan.Server{GUID: "g", URLs: []string{"http://[fd00::1]:7420", "http://10.0.0.1:7420"}})
	if len(got) != 2 || len(got[0].URLs) != 2 {
		t.Errorf("Merge = %+v, want g with both URLs, then h", got)
	}
}
