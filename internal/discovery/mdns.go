package discovery

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// MDNSService is the DNS-SD service type Usher servers advertise.
const MDNSService = "_usher._tcp"

// Advertiser answers mDNS queries for _usher._tcp until Close.
type Advertiser struct {
	srv *mdns.Server
}

// Advertise announces the server over mDNS: instance name, API port, and
// TXT records guid=, version= and (with TLS) tls=. It fails when no
// interface takes multicast; the caller logs that and goes on.
func Advertise(name, guid, version string, port int, tls bool) (*Advertiser, error) {
	host, _ := os.Hostname()
	txt := []string{"guid=" + guid, "version=" + version}
	if tls {
		txt = append(txt, "tls=1")
	}
	svc, err := mdns.NewMDNSService(name, MDNSService, "", host+".", port, hostIPs(), txt)
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	srv, err := mdns.NewServer(&mdns.Config{Zone: svc, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	return &Advertiser{srv: srv}, nil
}

// hostIPs are this host's addresses other than loopback, which the mDNS
// answer carries: the host name may not resolve.
func hostIPs() []net.IP {
	addrs, _ := net.InterfaceAddrs()
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			out = append(out, n.IP)
		}
	}
	return out
}

// Close stops answering. It is safe to call twice.
func (a *Advertiser) Close() error {
	if a == nil {
		return nil
	}
	return a.srv.Shutdown()
}

// browse asks mDNS for _usher._tcp for timeout, and returns what answered.
// A host where mDNS cannot run answers nothing.
func browse(ctx context.Context, timeout time.Duration) []lan.Server {
	if timeout <= 0 {
		timeout = lan.DefaultTimeout
	}
	entries := make(chan *mdns.ServiceEntry, 32)
	var (
		heard []*mdns.ServiceEntry
		wg    sync.WaitGroup
	)
	// Only the pointers while the query runs: hashicorp/mdns still fills
	// an entry in after it sent it. Its fields are read once Query is over.
	wg.Go(func() {
		for e := range entries {
			heard = append(heard, e)
		}
	})
	params := mdns.DefaultParams(MDNSService)
	params.Timeout, params.Entries = timeout, entries
	params.Logger = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() { defer close(done); mdns.Query(params) }()
	select {
	case <-done:
	case <-ctx.Done():
		<-done // Query ends at its timeout
	}
	close(entries)
	wg.Wait()
	var out []lan.Server
	for _, e := range heard {
		if s, ok := fromEntry(e); ok {
			out = lan.Merge(out, s)
		}
	}
	return out
}

// fromEntry reads a server from an mDNS answer.
func fromEntry(e *mdns.ServiceEntry) (lan.Server, bool) {
	s := lan.Server{From: "mdns", Name: strings.TrimSuffix(strings.SplitN(e.Name, ".", 2)[0], ".")}
	scheme := "http"
	for _, f := range e.InfoFields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "guid":
			s.GUID = v
		case "version":
			s.Version = v
		case "tls":
			scheme = "https"
		}
	}
	if s.GUID == "" || e.Port == 0 {
		return s, false
	}
	if e.AddrV4 != nil {
		s.URLs = append(s.URLs, (&url.URL{Scheme: scheme, Host: net.JoinHostPort(e.AddrV4.String(), fmt.Sprint(e.Port))}).String())
	}
	if e.AddrV6IPAddr != nil && (!e.AddrV6IPAddr.IP.IsLinkLocalUnicast() || e.AddrV6IPAddr.Zone != "") {
		s.URLs = append(s.URLs, (&url.URL{Scheme: scheme, Host: net.JoinHostPort(e.AddrV6IPAddr.String(), fmt.Sprint(e.Port))}).String())
	}
	return s, len(s.URLs) > 0
}
