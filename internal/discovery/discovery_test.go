package discovery_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery"
	"github.com/usher-lm/usher/internal/discovery/lan"
	"github.com/usher-lm/usher/internal/ushertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustResponder(t *testing.T, clock *ushertest.Clock, info lan.Server) *discovery.Responder {
	t.Helper()
	r, err := discovery.Listen(discovery.ResponderConfig{Info: func() lan.Server { return info }, LoopbackOnly: true, Now: clock.Now, Interfaces: lan.LoopbackInterfaces})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestFindAsksTheAddressesToScan(t *testing.T) {
	clock := ushertest.NewRunningClock()
	r := mustResponder(t, clock, lan.Server{GUID: "g1", Name: "lic1", Version: "1.2", URLs: []string{"http://:7420"}, Features: []string{"cad", "cam"}})
	for addr, want := range map[string]string{"127.0.0.1": "http://127.0.0.1:7420", "[::1]": "http://[::1]:7420"} {
		found, err := lan.Find(context.Background(), lan.Options{Port: r.Port(), Scan: []string{fmt.Sprintf("%s:%d", addr, r.Port())}, NoBroadcast: true, Timeout: 2 * time.Second, Feature: "cam", Settle: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].GUID != "g1" || found[0].Features[0] != "cam" {
			t.Fatalf("via %s: found %+v, want g1 listing cam first", addr, found)
		}
		if found[0].URLs[0] != want {
			t.Errorf("URL %q, want the host filled in from the reply: %q", found[0].URLs[0], want)
		}
	}
}

// ask sends n requests of size bytes from one socket and returns the
// sizes of the replies that came back.
func ask(t *testing.T, port, n, size int) []int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	for i := range n {
		c.WriteToUDP(lan.EncodeRequest(lan.Request{Nonce: fmt.Sprint(i)}, size), to)
	}
	var sizes []int
	buf := make([]byte, lan.MaxPacketSize)
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond)) // the replies of loopback come at once; this bounds the wait for none
		m, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return sizes
		}
		sizes = append(sizes, m)
	}
}

func TestRepliesAreRateLimitedPerSource(t *testing.T) {
	clock := ushertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) // stopped: no token comes back
	r := mustResponder(t, clock, lan.Server{GUID: "g1"})
	if got := len(ask(t, r.Port(), 3*discovery.Burst, lan.RequestSize)); got != discovery.Burst {
		t.Fatalf("%d replies to %d requests in an instant, want the burst of %d", got, 3*discovery.Burst, discovery.Burst)
	}
	clock.Advance(time.Second)
	if got := len(ask(t, r.Port(), 10, lan.RequestSize)); got != discovery.RequestsPerSecond {
		t.Errorf("%d replies a second later, want %d", got, discovery.RequestsPerSecond)
	}
}

func TestNoAmplification(t *testing.T) {
	clock := ushertest.NewRunningClock()
	info := lan.Server{GUID: "g1", URLs: []string{"http://:7420"}}
	for i := range 300 {
		info.Features = append(info.Features, fmt.Sprintf("feature-with-a-long-name-%03d", i))
	}
	r := mustResponder(t, clock, info)
	if got := ask(t, r.Port(), 1, lan.MinRequestSize-1); len(got) != 0 {
		t.Errorf("a request of %d bytes got replies %v, want none", lan.MinRequestSize-1, got)
	}
	for _, size := range []int{lan.MinRequestSize, lan.RequestSize, 3000} {
		got := ask(t, r.Port(), 1, size)
		if len(got) != 1 || got[0] > lan.AmplificationFactor*size {
			t.Errorf("request of %d bytes: replies of %v bytes, want one of at most %d", size, got, lan.AmplificationFactor*size)
		}
	}
}

// lockLab is a LAN lock fed by hand, with its own announcer on loopback.
type lockLab struct {
	clock *ushertest.Clock
	lock  *discovery.LANLock
	ann   *discovery.Announcer
	heard chan lan.Heard
	guid  string
}

func newLockLab(t *testing.T, cluster string) *lockLab {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	clock := ushertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	session, err := usher.NewSession(key, clock.Now(), 24*time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := &lockLab{clock: clock, heard: make(chan lan.Heard), guid: usher.ServerGUID(pub)}
	l.ann, err = discovery.StartAnnouncer(discovery.AnnouncerConfig{
		Port: 1, Interval: 10 * time.Second, Session: func() *usher.Session { return session },
		Self: func() lan.Announcement { return lan.Announcement{GUID: l.guid, Cluster: cluster} }, Interfaces: lan.LoopbackInterfaces, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	l.lock = discovery.NewLANLock(l.guid, l.ann, l.heard, nil, clock.Now)
	t.Cleanup(func() { l.lock.Close(); l.ann.Close() })
	return l
}

// rival is another run of this server's identity that started at delta
// from this one.
func (l *lockLab) rival(delta time.Duration, event string) lan.Heard {
	return lan.Heard{Announcement: lan.Announcement{
		GUID: l.guid, Instance: "rival", Started: l.ann.Started().Add(delta), Sent: l.clock.Now(), Seq: 1, Event: event, IntervalMS: 10_000,
	}, From: netip.MustParseAddr("10.0.0.9")}
}

func TestLANLockYieldsToTheServerThatStartedFirst(t *testing.T) {
	l := newLockLab(t, "")
	held, err := l.lock.Lock(context.Background(), l.guid)
	if err != nil {
		t.Fatal(err)
	}
	l.lock.Observe(l.rival(time.Second, lan.EventStart)) // a newcomer: this one keeps serving
	select {
	case <-held.Lost():
		t.Fatal("lost the lock to a server that started later")
	default:
	}
	l.lock.Observe(l.rival(-time.Second, lan.EventAlive)) // one that started first
	select {
	case <-held.Lost():
	default:
		t.Fatal("the lock is still held while a server that started first announces the same identity")
	}
	held.Release()
	if _, err := l.lock.Lock(context.Background(), l.guid); usher.ErrorCode(err) != usher.ELicenseInUseElsewhere {
		t.Fatalf("Lock while the winner announces: %v, want %s", err, usher.ELicenseInUseElsewhere)
	}
	l.clock.Advance(discovery.MissedAnnouncements*10*time.Second - time.Second)
	if _, err := l.lock.Lock(context.Background(), l.guid); err == nil {
		t.Fatal("Lock succeeded before the winner missed its announcements")
	}
	l.clock.Advance(2 * time.Second)
	if _, err := l.lock.Lock(context.Background(), l.guid); err != nil {
		t.Fatalf("Lock once the winner went silent for %d periods: %v", discovery.MissedAnnouncements, err)
	}
}

func TestLANLockIgnoresWhatProvesNothing(t *testing.T) {
	l := newLockLab(t, "east")
	stop := l.rival(-time.Second, lan.EventAlive)
	unsigned := l.rival(-time.Second, lan.EventAlive)
	unsigned.Unverified = usher.Errorf(usher.EUntrustedServer, "not signed")
	old := l.rival(-time.Second, lan.EventAlive)
	old.Sent = old.Sent.Add(-time.Hour)
	member := l.rival(-time.Second, lan.EventAlive)
	member.Cluster = "east"
	for name, h := range map[string]lan.Heard{"unsigned": unsigned, "replayed from an hour ago": old, "another node of the cluster": member} {
		l.lock.Observe(h)
		if _, err := l.lock.Lock(context.Background(), l.guid); err != nil {
			t.Errorf("an announcement %s stopped the lock: %v", name, err)
		}
	}
	l.lock.Observe(stop)
	stop.Event, stop.Seq = lan.EventStop, 2
	l.lock.Observe(stop)
	if _, err := l.lock.Lock(context.Background(), l.guid); err != nil {
		t.Errorf("Lock after the winner announced its stop: %v", err)
	}
}

func TestResolverLeavesItselfOut(t *testing.T) {
	clock := ushertest.NewRunningClock()
	r := mustResponder(t, clock, lan.Server{GUID: "self", URLs: []string{"http://:7420"}})
	res := &discovery.Resolver{Exclude: "self", Options: discovery.FindOptions{NoMDNS: true, Options: lan.Options{
		Port: r.Port(), Scan: []string{fmt.Sprintf("127.0.0.1:%d", r.Port())}, NoBroadcast: true, Timeout: 300 * time.Millisecond}}}
	if got, err := res.Resolve(context.Background()); err == nil {
		t.Errorf("Resolve = %v, want an error: the only server is the one to leave out", got)
	}
	res.Exclude = ""
	if got, err := res.Resolve(context.Background()); err != nil || len(got) != 1 || got[0] != "http://127.0.0.1:7420" {
		t.Errorf("Resolve = %v, %v; want http://127.0.0.1:7420", got, err)
	}
}
