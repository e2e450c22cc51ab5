package client

import (
	"context"
	"crypto/ed25519"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// stepClock is the resolver's clock, moved by hand. (An internal test
// cannot use ushertest's, which imports this package.)
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time          { return c.t }
func (c *stepClock) Advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock(t time.Time) *stepClock        { return &stepClock{t: t} }

// testResolver is a LAN resolver that searches this host only, with a
// responder on a port of its own that counts the searches.
func testResolver(t *testing.T, clock *stepClock, wanted ...string) (*lanResolver, *atomic.Int32) {
	t.Helper()
	var asked atomic.Int32
	resp, err := discovery.Listen(discovery.ResponderConfig{LoopbackOnly: true, Interfaces: lan.LoopbackInterfaces, Info: func() lan.Server {
		asked.Add(1)
		return lan.Server{GUID: "g1", URLs: []string{"http://:7420"}, Features: []string{"cad"}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Close() })
	r := newLANResolver(Options{DiscoveryPort: resp.Port(), Now: clock.Now, DiscoveryCache: filepath.Join(t.TempDir(), "last.json")}, func() []string { return wanted })
	r.interfaces = lan.LoopbackInterfaces
	return r, &asked
}

func TestLANResolverSearchesAtMostEveryInterval(t *testing.T) {
	clock := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r, asked := testResolver(t, clock, "cad")
	ctx := context.Background()
	got, err := r.Resolve(ctx)
	if err != nil || !slices.Contains(got, "http://127.0.0.1:7420") {
		t.Fatalf("Resolve = %v, %v; want the responder at http://127.0.0.1:7420", got, err)
	}
	searches := asked.Load()
	clock.Advance(RediscoverInterval - time.Second)
	if _, err := r.Resolve(ctx); err != nil || asked.Load() != searches {
		t.Errorf("searched again within %v (%v)", RediscoverInterval, err)
	}
	clock.Advance(time.Second)
	if r.Resolve(ctx); asked.Load() == searches {
		t.Errorf("did not search again after %v", RediscoverInterval)
	}
	searches = asked.Load()
	r.heard(lan.Heard{Announcement: lan.Announcement{Event: lan.EventStart}})
	if r.Resolve(ctx); asked.Load() == searches {
		t.Errorf("did not search again after a server announced its start")
	}
}

func TestLANResolverStartsWithTheRememberedServer(t *testing.T) {
	clock := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r, asked := testResolver(t, clock)
	r.remember("http://10.0.0.7:7420")
	got, err := r.Resolve(context.Background())
	if err != nil || !slices.Equal(got, []string{"http://10.0.0.7:7420"}) || asked.Load() != 0 {
		t.Fatalf("first Resolve = %v, %v after %d searches; want the remembered server at once", got, err, asked.Load())
	}
	// It did not answer: the next round searches, and keeps it last.
	got, _ = r.Resolve(context.Background())
	if asked.Load() == 0 || len(got) == 0 || got[0] != "http://127.0.0.1:7420" {
		t.Errorf("second Resolve = %v after %d searches; want a search", got, asked.Load())
	}
}

func TestLANResolverPrefersServersOfTheFeature(t *testing.T) {
	clock := newClock(time.Now())
	r, _ := testResolver(t, clock, "cam")
	r.found = []lan.Server{
		{GUID: "a", URLs: []string{"http://a:7420"}, Features: []string{"cad"}},
		{GUID: "b", URLs: []string{"http://b:7420"}, Features: []string{"cad", "cam"}},
		{GUID: "c", URLs: []string{"http://c:7420"}},
	}
	r.remember("http://c:7420")
	if got, want := r.ordered(), []string{"http://b:7420", "http://c:7420", "http://a:7420"}; !slices.Equal(got, want) {
		t.Errorf("ordered = %v, want %v: the server of cam, then the remembered one, then the rest", got, want)
	}
}

func TestAnnouncedStartCutsTheBackoffShort(t *testing.T) {
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	c, err := New(Options{Servers: []string{"127.0.0.1:1"}, DiscoveryPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.listen()
	done := make(chan error, 1)
	go func() { done <- c.sleep(context.Background(), time.Hour, time.Now().Add(time.Hour)) }()

	_, key, _ := ed25519.GenerateKey(nil)
	session, err := usher.NewSession(key, time.Now(), time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 255, 255, 255), Port: lan.AnnouncePort(port)}
	tick := time.NewTicker(50 * time.Millisecond) // until the listener is up
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for seq := uint64(1); ; seq++ {
		out.WriteToUDP(lan.EncodeAnnouncement(lan.Announcement{Instance: "i", Seq: seq, Event: lan.EventStart}, session), to)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("the backoff was not cut short by an announced start")
		}
	}
}
