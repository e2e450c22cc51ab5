// Package discovery is the server's side of discovery on the LAN: it
// answers discovery requests (broadcast on IPv4, multicast on IPv6,
// unicast from a scan), advertises the server over mDNS, and finds servers
// for the CLI and relays with both (Find). The wire format, and the
// searcher the SDK embeds, are in package lan.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/usher-lm/usher/internal/discovery/lan"
	"golang.org/x/net/ipv6"
	"golang.org/x/time/rate"
)

// Rate limit of replies per source address: RequestsPerSecond, in bursts
// of Burst.
const (
	RequestsPerSecond = 2
	Burst             = 10
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// Port is the UDP port, lan.DefaultPort by default; 0 in tests picks
	// a free one (see Responder.Port).
	Port int
	// Info returns what a reply says; it is called for every reply.
	Info func() lan.Server
	// LoopbackOnly answers requests from this host only: for a server
	// whose API listens on loopback addresses only.
	LoopbackOnly bool
	Logger       *slog.Logger
	Now          func() time.Time // default time.Now
	// Interfaces lists where to join the IPv6 group; default
	// net.Interfaces.
	Interfaces func() ([]net.Interface, error)
}

// Responder answers discovery requests until Close.
type Responder struct {
	cfg   ResponderConfig
	conns []net.PacketConn
	lim   *limiter
	wg    sync.WaitGroup
	once  sync.Once
}

// Listen opens the discovery sockets: IPv4 on the wildcard address (which
// receives broadcasts) and IPv6, joined to lan.Group on every multicast
// interface. A host without IPv6 answers on IPv4 only.
func Listen(cfg ResponderConfig) (*Responder, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = net.Interfaces
	}
	c4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: cfg.Port})
	if err != nil {
		return nil, fmt.Errorf("discovery: listen on UDP port %d: %w: set discovery_port to a free port, or discovery = false", cfg.Port, err)
	}
	r := &Responder{cfg: cfg, conns: []net.PacketConn{c4}, lim: newLimiter(cfg.Now)}
	r.cfg.Port = c4.LocalAddr().(*net.UDPAddr).Port
	if c6, err := net.ListenUDP("udp6", &net.UDPAddr{Port: r.cfg.Port}); err != nil {
		cfg.Logger.Info("discovery answers on IPv4 only: no IPv6 socket", "err", err)
	} else {
		r.conns = append(r.conns, c6)
		r.joinGroup(c6)
	}
	for _, c := range r.conns {
		r.wg.Add(1)
		go r.serve(c)
	}
	return r, nil
}

// joinGroup joins lan.Group on every multicast interface that is up.
func (r *Responder) joinGroup(c *net.UDPConn) {
	ifs, err := r.cfg.Interfaces()
	if err != nil {
		r.cfg.Logger.Warn("discovery: cannot list the network interfaces; IPv6 multicast requests go unanswered", "err", err)
		return
	}
	p := ipv6.NewPacketConn(c)
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		if err := p.JoinGroup(&ifi, &net.UDPAddr{IP: lan.Group}); err != nil {
			r.cfg.Logger.Debug("discovery: cannot join the IPv6 group", "interface", ifi.Name, "err", err)
		}
	}
}

// Port returns the UDP port the responder listens on.
func (r *Responder) Port() int { return r.cfg.Port }

// Close stops answering. It is safe to call twice.
func (r *Responder) Close() error {
	r.once.Do(func() {
		for _, c := range r.conns {
			c.Close()
		}
		r.wg.Wait()
	})
	return nil
}

func (r *Responder) serve(c net.PacketConn) {
	defer r.wg.Done()
	buf := make([]byte, lan.MaxPacketSize)
	for {
		n, from, err := c.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if reply := r.answer(buf[:n], from); reply != nil {
			c.WriteTo(reply, from)
		}
	}
}

// answer returns the reply to a datagram from, or nil when it gets none:
// not a request, too short, from a source over its rate, or from another
// host while the server answers loopback only.
func (r *Responder) answer(b []byte, from net.Addr) []byte {
	if lan.Kind(b) != 'Q' {
		return nil
	}
	req, err := lan.DecodeRequest(b)
	if err != nil {
		return nil
	}
	ap, ok := from.(*net.UDPAddr)
	if !ok {
		return nil
	}
	ip := ap.AddrPort().Addr().Unmap()
	if r.cfg.LoopbackOnly && !ip.IsLoopback() {
		return nil
	}
	if !r.lim.allow(ip) {
		return nil
	}
	s := r.cfg.Info()
	s.Nonce = req.Nonce
	s.Features = featureFirst(s.Features, req.Feature)
	return lan.EncodeReply(s, lan.AmplificationFactor*len(b))
}

// featureFirst moves feature to the front of list, so that a truncated
// reply still says whether the asker's feature is served.
func featureFirst(list []string, feature string) []string {
	for i, f := range list {
		if f == feature && i > 0 {
			out := append([]string{f}, list[:i]...)
			return append(out, list[i+1:]...)
		}
	}
	return list
}

// limiter keeps one token bucket per source address; buckets idle for a
// minute, full again by then, are dropped.
type limiter struct {
	now   func() time.Time
	mu    sync.Mutex
	peers map[netip.Addr]*peerLimit
	swept time.Time
}

type peerLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, peers: map[netip.Addr]*peerLimit{}}
}

func (l *limiter) allow(ip netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for a, p := range l.peers {
			if now.Sub(p.seen) > time.Minute {
				delete(l.peers, a)
			}
		}
		l.swept = now
	}
	p := l.peers[ip]
	if p == nil {
		p = &peerLimit{lim: rate.NewLimiter(RequestsPerSecond, Burst)}
		l.peers[ip] = p
	}
	p.seen = now
	return p.lim.AllowN(now, 1)
}

// Find searches the LAN for Usher servers: the UDP search of lan.Find and,
// unless NoMDNS, an mDNS browse for _usher._tcp at the same time. Servers
// are merged by GUID.
func Find(ctx context.Context, opts FindOptions) ([]lan.Server, error) {
	var (
		viaMDNS []lan.Server
		wg      sync.WaitGroup
	)
	if !opts.NoMDNS && !opts.NoBroadcast {
		wg.Go(func() { viaMDNS = browse(ctx, opts.Timeout) })
	}
	found, err := lan.Find(ctx, opts.Options)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return lan.Merge(found, viaMDNS...), nil
}

// FindOptions configure Find.
type FindOptions struct {
	lan.Options
	// NoMDNS skips the mDNS browse.
	NoMDNS bool
}

// Server is one server found on the LAN.
type Server = lan.Server

// Resolver finds upstream servers on the LAN for a client (it implements
// client.Resolver): the servers that answer Find, those that list Feature
// first, without the server whose GUID is Exclude (a relay must not find
// itself).
type Resolver struct {
	Options FindOptions
	Feature string
	Exclude string
}

// Resolve searches the LAN and returns the servers' URLs in order of
// preference. It fails when no other server answered.
func (r *Resolver) Resolve(ctx context.Context) ([]string, error) {
	opts := r.Options
	if opts.Feature == "" {
		opts.Feature = r.Feature
	}
	found, err := Find(ctx, opts)
	if err != nil {
		return nil, err
	}
	var first, rest []string
	for _, s := range found {
		switch {
		case s.GUID == r.Exclude:
		case r.Feature != "" && s.Serves(r.Feature):
			first = append(first, s.URLs...)
		default:
			rest = append(rest, s.URLs...)
		}
	}
	if len(first)+len(rest) == 0 {
		return nil, fmt.Errorf("no other Usher server answered discovery on the LAN within %s", opts.Timeout)
	}
	return append(first, rest...), nil
}
