package client_test

import (
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Server is an in-process Usher server for tests whose running clock a
// test can move forward.
type Server struct {
	*ushertest.Server
	clock *ushertest.Clock
}

// MustStartServer starts a server on 127.0.0.1:0 with a keep-alive
// timeout and a license granting seats of each feature. configure, if
// given, changes the configuration before the start.
func MustStartServer(tb testing.TB, keepalive time.Duration, seats map[string]int, configure ...func(*daemon.Config)) *Server {
	tb.Helper()
	clock := ushertest.NewRunningClock()
	s := ushertest.StartServer(tb, ushertest.ServerOptions{
		Seats: seats,
		Configure: func(cfg *daemon.Config) {
			cfg.KeepaliveTimeout = daemon.Duration(keepalive)
			cfg.KeepaliveScanInterval = daemon.Duration(keepalive / 4)
			for _, f := range configure {
				f(cfg)
			}
		},
		Daemon: daemon.Options{Now: clock.Now},
	})
	return &Server{Server: s, clock: clock}
}

// LeasesOf returns the live leases of a client.
func (s *Server) LeasesOf(clientID string) []usher.Lease {
	var out []usher.Lease
	for _, l := range s.Ledger().Leases() {
		if l.Client.ID == clientID {
			out = append(out, l)
		}
	}
	return out
}

// Events records what a client reports through Options.OnEvent.
type Events struct {
	mu   sync.Mutex
	list []client.Event
}

// Record is an Options.OnEvent.
func (e *Events) Record(ev client.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

// Count returns how many events of a type were recorded.
func (e *Events) Count(typ client.EventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.list {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// Types returns the types recorded, in order.
func (e *Events) Types() []client.EventType {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []client.EventType
	for _, ev := range e.list {
		out = append(out, ev.Type)
	}
	return out
}

// Has reports whether an event of a type was recorded.
func (e *Events) Has(typ client.EventType) bool { return e.Count(typ) > 0 }

// MustNew returns a client of the given servers that Cleanup closes.
func MustNew(tb testing.TB, opts client.Options) *client.Client {
	tb.Helper()
	opts.RequestTimeout = max(opts.RequestTimeout, time.Second)
	c, err := client.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Proxy forwards TCP connections to a target and can be taken down, to
// inject network faults between a client and a server.
type Proxy struct {
	ln     net.Listener
	target string

	drop atomic.Int32 // replies still to drop

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// MustStartProxy starts a proxy on 127.0.0.1:0 to target.
func MustStartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDown cuts every connection and, while down, closes new ones at once.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// DropReplies makes the proxy drop the first reply on each of the next n
// connections and cut them: the server acts on the request, the client
// never hears back.
func (p *Proxy) DropReplies(n int) { p.drop.Store(int32(n)) }

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.ln.Close()
	p.SetDown(true)
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(in)
		p.mu.Unlock()
	}
}

func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in, out) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(out, in); out.Close() })
	p.reply(in, out)
	in.Close()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

// reply copies the server's replies to the client, unless the first one
// is to be dropped.
func (p *Proxy) reply(in, out net.Conn) {
	buf := make([]byte, 32<<10)
	n, err := out.Read(buf)
	if err != nil || p.drop.Add(-1) >= 0 {
		out.Close()
		return
	}
	if _, err := in.Write(buf[:n]); err == nil {
		_, _ = io.Copy(in, out)
	}
}

// track registers a connection pair, or closes it if the proxy went down
// meanwhile.
func (p *Proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		in.Close()
		out.Close()
		return false
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	return true
}

// sortedIDs returns the IDs of leases, sorted.
func sortedIDs(ls []usher.Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	slices.Sort(out)
	return out
}
