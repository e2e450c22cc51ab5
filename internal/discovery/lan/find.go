package lan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is how long Find waits for replies when Options.Timeout
// is not set.
const DefaultTimeout = 2 * time.Second

// MaxScanHosts bounds the addresses one search sends to: a /16 at most.
const MaxScanHosts = 1 << 16

// Options configure a search.
type Options struct {
	// Port is the discovery port; default DefaultPort.
	Port int
	// Timeout is how long to wait for replies; default DefaultTimeout.
	Timeout time.Duration
	// Feature, if set, asks servers to list it first.
	Feature string
	// Scan are addresses ("10.0.0.5", "host:7420") or subnets
	// ("10.0.0.0/24") to ask directly, where broadcast is filtered.
	Scan []string
	// NoBroadcast asks only the Scan addresses.
	NoBroadcast bool
	// Interfaces lists the network interfaces; default net.Interfaces.
	Interfaces func() ([]net.Interface, error)
	// Settle, if set, ends the search this long after the first reply
	// that lists Feature (or the first reply at all, without Feature),
	// instead of at the timeout: for a program that starts.
	Settle time.Duration
}

// Find asks the LAN for Usher servers and returns those that answered
// within the timeout, one per GUID, in the order they answered. A URL
// without a host is completed with the address the reply came from.
func Find(ctx context.Context, opts Options) ([]Server, error) {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Interfaces == nil {
		opts.Interfaces = net.Interfaces
	}
	targets, err := scanTargets(opts.Scan, opts.Port)
	if err != nil {
		return nil, err
	}
	if !opts.NoBroadcast {
		targets = append(targets, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: opts.Port}, &net.UDPAddr{IP: net.IPv6loopback, Port: opts.Port})
		targets = append(targets, BroadcastTargets(opts.Interfaces, opts.Port)...)
	}
	nonce := newNonce()
	req := EncodeRequest(Request{Nonce: nonce, Feature: opts.Feature}, RequestSize)
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	s := &search{nonce: nonce, replies: make(chan Server, 64)}
	var conns []*net.UDPConn
	for _, network := range []string{"udp4", "udp6"} {
		c, err := net.ListenUDP(network, nil)
		if err != nil {
			continue // no IPv6 (or IPv4) on this host
		}
		defer c.Close()
		conns = append(conns, c)
		go s.read(c)
	}
	if len(conns) == 0 {
		return nil, errors.New("cannot open a UDP socket to search for servers")
	}
	SendAll(conns, targets, req)
	resend := time.NewTimer(opts.Timeout / 3) // once more, for a lost datagram
	defer resend.Stop()
	var (
		found   []Server
		settled <-chan time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return sortURLs(found), nil
		case <-settled:
			return sortURLs(found), nil
		case <-resend.C:
			SendAll(conns, targets, req)
		case srv := <-s.replies:
			found = Merge(found, srv)
			if opts.Settle > 0 && settled == nil && (opts.Feature == "" || srv.Serves(opts.Feature)) {
				settled = time.After(opts.Settle)
			}
		}
	}
}

// search reads the replies of one Find.
type search struct {
	nonce   string
	replies chan Server
}

// read forwards the replies that answer this search until c closes.
func (s *search) read(c *net.UDPConn) {
	buf := make([]byte, MaxPacketSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		srv, err := DecodeReply(buf[:n])
		if err != nil || srv.Nonce != s.nonce {
			continue
		}
		srv.Nonce, srv.From = "", from.Addr().Unmap().String()
		srv.URLs = CompleteURLs(srv.URLs, from.Addr().Unmap())
		select {
		case s.replies <- srv:
		default: // a flood; the first replies are enough
		}
	}
}

// SendAll sends b to every target over the socket of its family, and
// returns how many took it: some targets are unreachable.
func SendAll(conns []*net.UDPConn, targets []*net.UDPAddr, b []byte) (sent int) {
	for _, t := range targets {
		for _, c := range conns {
			local := c.LocalAddr().(*net.UDPAddr)
			if (t.IP.To4() != nil) != (local.IP.To4() != nil) {
				continue
			}
			if _, err := c.WriteToUDP(b, t); err == nil {
				sent++
			}
		}
	}
	return sent
}

// Merge adds servers to found, joining the URLs of a server already there
// by GUID (a server that answered on several interfaces, or over mDNS
// too).
func Merge(found []Server, servers ...Server) []Server {
next:
	for _, srv := range servers {
		for i := range found {
			if found[i].GUID == srv.GUID {
				for _, u := range srv.URLs {
					if !slices.Contains(found[i].URLs, u) {
						found[i].URLs = append(found[i].URLs, u)
					}
				}
				continue next
			}
		}
		found = append(found, srv)
	}
	return found
}

// sortURLs puts each server's IPv4 URLs first and link-local IPv6 ones
// last: the first is the one a client tries first.
func sortURLs(found []Server) []Server {
	rank := func(s string) int {
		switch {
		case strings.Contains(s, "[fe80:"):
			return 2
		case strings.Contains(s, "["):
			return 1
		}
		return 0
	}
	for _, srv := range found {
		slices.SortStableFunc(srv.URLs, func(a, b string) int { return rank(a) - rank(b) })
	}
	return found
}

// CompleteURLs gives URLs without a host the address from.
func CompleteURLs(urls []string, from netip.Addr) []string {
	out := make([]string, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		if u.Hostname() == "" {
			u.Host = netip.AddrPortFrom(from, uint16(portOf(u))).String()
			if from.Is6() && from.Zone() != "" {
				u.Host = "[" + from.String() + "]:" + u.Port()
			}
		}
		out = append(out, u.String())
	}
	return out
}

func portOf(u *url.URL) int {
	p, _ := strconv.Atoi(u.Port())
	if p == 0 {
		p = DefaultPort
	}
	return p
}

// BroadcastTargets are the IPv4 broadcast address of every interface that
// is up (the loopback's too, 127.255.255.255, for this host), and lan.Group
// on every multicast interface, at port.
func BroadcastTargets(interfaces func() ([]net.Interface, error), port int) []*net.UDPAddr {
	if interfaces == nil {
		interfaces = net.Interfaces
	}
	ifs, err := interfaces()
	if err != nil {
		return nil
	}
	var out []*net.UDPAddr
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		if ifi.Flags&net.FlagMulticast != 0 {
			out = append(out, &net.UDPAddr{IP: Group, Port: port, Zone: ifi.Name})
		}
		if ifi.Flags&(net.FlagBroadcast|net.FlagLoopback) == 0 {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				out = append(out, &net.UDPAddr{IP: broadcastOf(n), Port: port})
			}
		}
	}
	return out
}

// broadcastOf returns the IPv4 broadcast address of n.
func broadcastOf(n *net.IPNet) net.IP {
	ip, mask := n.IP.To4(), n.Mask
	if len(mask) == net.IPv6len {
		mask = mask[12:]
	}
	b := make(net.IP, net.IPv4len)
	for i := range b {
		b[i] = ip[i] | ^mask[i]
	}
	return b
}

// scanTargets expands addresses and subnets to send to directly.
func scanTargets(list []string, port int) ([]*net.UDPAddr, error) {
	var out []*net.UDPAddr
	for _, s := range list {
		if prefix, err := netip.ParsePrefix(s); err == nil {
			hosts := prefix.Masked()
			if bits := hosts.Addr().BitLen() - hosts.Bits(); bits > 16 {
				return nil, fmt.Errorf("--scan %s: at most %d addresses (a /16 for IPv4) may be scanned at once", s, MaxScanHosts)
			}
			for a := hosts.Addr(); hosts.Contains(a); a = a.Next() {
				out = append(out, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port))))
			}
			continue
		}
		host, p := s, port
		if h, ps, err := net.SplitHostPort(s); err == nil {
			host, p = h, 0
			if p, err = strconv.Atoi(ps); err != nil {
				return nil, fmt.Errorf("--scan %s: the port is not a number", s)
			}
		}
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("--scan %s: not an address, subnet or known host name", s)
		}
		out = append(out, &net.UDPAddr{IP: ips[0], Port: p})
	}
	return out, nil
}

func newNonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// LoopbackInterfaces lists this host's loopback interfaces only: an
// Interfaces for a server that answers on loopback alone, and for tests
// whose traffic stays on the host.
func LoopbackInterfaces() ([]net.Interface, error) {
	ifs, err := net.Interfaces()
	return slices.DeleteFunc(ifs, func(i net.Interface) bool { return i.Flags&net.FlagLoopback == 0 }), err
}
