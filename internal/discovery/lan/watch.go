package lan

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// AnnouncePort is the UDP port announcements go to: the discovery port
// plus one. Every listener on a host shares it (SO_REUSEADDR), which is
// why it is not the discovery port, whose unicast requests must reach the
// server alone.
func AnnouncePort(discoveryPort int) int { return discoveryPort + 1 }

// Heard is an announcement as a Watcher received it.
type Heard struct {
	Announcement
	From netip.Addr
	// Unverified is why the signature does not prove that the server
	// named by GUID sent it; nil when it does.
	Unverified error
}

// Watcher receives announcements until Close.
type Watcher struct {
	conns []*net.UDPConn
	c     chan Heard
	now   func() time.Time
	wg    sync.WaitGroup
	once  sync.Once

	mu   sync.Mutex
	last map[string]uint64 // the last sequence number heard per instance
}

// Watch listens for announcements on port (see AnnouncePort): IPv4
// broadcasts, and lan.Group on every multicast interface. now checks the
// signatures' certificates; default time.Now. It fails only if neither
// socket opens.
func Watch(port int, interfaces func() ([]net.Interface, error), now func() time.Time) (*Watcher, error) {
	if interfaces == nil {
		interfaces = net.Interfaces
	}
	if now == nil {
		now = time.Now
	}
	w := &Watcher{c: make(chan Heard, 64), now: now, last: map[string]uint64{}}
	var errs []error
	for _, network := range []string{"udp4", "udp6"} {
		lc := net.ListenConfig{Control: shareSocket(network, interfaces)}
		pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort("", strconv.Itoa(port)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.conns = append(w.conns, pc.(*net.UDPConn))
	}
	if len(w.conns) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, c := range w.conns {
		w.wg.Add(1)
		go w.read(c)
	}
	return w, nil
}

// C delivers the announcements heard, each once. If nobody reads, the
// newest are dropped.
func (w *Watcher) C() <-chan Heard { return w.c }

// Close stops listening and closes C. It is safe to call twice.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		for _, c := range w.conns {
			c.Close()
		}
		w.wg.Wait()
		close(w.c)
	})
	return nil
}

func (w *Watcher) read(c *net.UDPConn) {
	defer w.wg.Done()
	buf := make([]byte, MaxPacketSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || Kind(buf[:n]) != kindAnnouncement {
			continue
		}
		a, verr, err := DecodeAnnouncement(buf[:n], w.now())
		if err != nil || !w.fresh(a) {
			continue
		}
		a.URLs = CompleteURLs(a.URLs, from.Addr().Unmap())
		select {
		case w.c <- Heard{Announcement: a, From: from.Addr().Unmap(), Unverified: verr}:
		default:
		}
	}
}

// fresh reports whether a was not heard before: the same datagram comes
// in once per interface it was sent on.
func (w *Watcher) fresh(a Announcement) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.last[a.Instance]; ok && a.Seq <= last {
		return false
	}
	if len(w.last) > 4096 {
		clear(w.last) // a flood of made-up instances; forget them
	}
	w.last[a.Instance] = a.Seq
	return true
}
