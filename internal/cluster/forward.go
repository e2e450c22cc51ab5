package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// Headers of a request one node forwards to the decider.
const (
	// ForwardedHeader names the node that forwarded the request. A node
	// that receives one and does not decide answers 503 instead of
	// forwarding again, so requests never loop between nodes.
	ForwardedHeader = "Usher-Forwarded-By"
	// ClientAddrHeader carries the address the client's request came
	// from, as IP:port.
	ClientAddrHeader = "Usher-Forwarded-For"
	// SignatureHeader authenticates the two others: an HMAC-SHA256 of
	// them under the cluster's forwarding secret.
	SignatureHeader = "Usher-Forwarded-Signature"
)

// deciderCacheTTL is how long a node trusts what it last read about who
// decides; a failed forward forgets it at once.
const deciderCacheTTL = 250 * time.Millisecond

// forwardDialTimeout bounds connecting to the deciding node: a node that
// is down on a real network does not refuse, it stays silent.
const forwardDialTimeout = time.Second

// Directory tells who decides.
type Directory interface {
	// Decider returns the node that decides now; ok is false while
	// nobody does.
	Decider(ctx context.Context) (p Peer, ok bool, err error)
	// Follow calls fn with the decider whenever it may have changed,
	// until ctx ends.
	Follow(ctx context.Context, fn func(p Peer, ok bool, err error))
}

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	Self      Peer
	Directory Directory
	// Secret authenticates the requests the nodes forward to each other;
	// every node of a cluster has the same. Empty: no forwarded client
	// address is trusted.
	Secret []byte
	// Deciding returns the context of this node's term while it decides,
	// and nil otherwise.
	Deciding func() context.Context
	// WriteError writes an error response in the API's form.
	WriteError func(http.ResponseWriter, *http.Request, error)
	Logger     *slog.Logger // default discards
}

// Forwarder is the HTTP middleware through which any node serves clients:
// Forward sends requests to the node that decides when this one does not,
// and Accept takes the client's address from a request forwarded by a
// peer, so that the decider sees every request as coming from its client.
type Forwarder struct {
	cfg       ForwarderConfig
	logger    *slog.Logger
	transport *http.Transport

	mu      sync.Mutex
	cached  Peer
	found   bool
	readAt  time.Time
	proxies map[string]*httputil.ReverseProxy
	// Requests forwarded to a node end when it no longer decides: a node
	// cut off the network may never answer them.
	toNode map[string]nodeContext
	ctx    context.Context // ends with Run
}

// nodeContext ends when its node no longer decides.
type nodeContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// NewForwarder returns a Forwarder; Run follows the directory.
func NewForwarder(cfg ForwarderConfig) *Forwarder {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.ResponseHeaderTimeout = 0 // a checkout may wait in line
	tr.DialContext = (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 15 * time.Second}).DialContext
	return &Forwarder{cfg: cfg, logger: cfg.Logger, transport: tr, proxies: make(map[string]*httputil.ReverseProxy),
		toNode: make(map[string]nodeContext), ctx: context.Background()}
}

// Run follows who decides until ctx ends, so that requests forwarded to a
// node that stopped deciding end at once rather than when their client
// gives up. It closes idle connections to other nodes when it returns.
func (f *Forwarder) Run(ctx context.Context) {
	f.mu.Lock()
	f.ctx = ctx
	f.mu.Unlock()
	f.cfg.Directory.Follow(ctx, f.settle)
	f.transport.CloseIdleConnections()
}

// Accept takes the client's address from a request that a peer forwarded,
// once its signature proves it comes from a node of the cluster. From
// anyone else the forwarding headers are dropped.
func (f *Forwarder) Accept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if by := r.Header.Get(ForwardedHeader); by != "" {
			f.accept(r, by)
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Forwarder) accept(r *http.Request, by string) {
	addr := r.Header.Get(ClientAddrHeader)
	want := f.sign(by, addr)
	got, err := hex.DecodeString(r.Header.Get(SignatureHeader))
	if want != nil && err == nil && addr != "" && hmac.Equal(got, want) {
		r.RemoteAddr = addr
		return
	}
	f.logger.Debug("forwarding headers without a valid signature ignored", "remote", r.RemoteAddr, "by", by)
	r.Header.Del(ForwardedHeader)
	r.Header.Del(ClientAddrHeader)
	r.Header.Del(SignatureHeader)
}

// sign returns the signature of a request forwarded by node for the
// client at addr, or nil without a secret.
func (f *Forwarder) sign(node, addr string) []byte {
	if len(f.cfg.Secret) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, f.cfg.Secret)
	m.Write([]byte(node))
	m.Write([]byte{0})
	m.Write([]byte(addr))
	return m.Sum(nil)
}

// Forward serves a request with next while this node decides, and
// otherwise forwards it to the node that decides. While nobody decides it
// answers 503 (code unavailable), which clients retry, on this node or
// another of their server list.
func (f *Forwarder) Forward(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if term := f.cfg.Deciding(); term != nil {
			if term.Done() == nil { // a term that never ends
				next.ServeHTTP(w, r)
				return
			}
			// A request in flight when the term ends stops waiting in line.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(term, cancel)
			defer stop()
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if by := r.Header.Get(ForwardedHeader); by != "" {
			f.unavailable(w, r, "node %s forwarded this request to node %s, which no longer decides: retry in a moment", by, f.cfg.Self.Node)
			return
		}
		f.forward(w, r)
	})
}

func (f *Forwarder) unavailable(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	w.Header().Set("Retry-After", "1")
	f.cfg.WriteError(w, r, usher.Errorf(usher.EUnavailable, format, args...))
}

func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request) {
	p, ok, err := f.target(r.Context())
	self := f.cfg.Self.Node
	switch {
	case err != nil:
		f.unavailable(w, r, "node %s cannot reach etcd to find the node that decides (%v): retry, or use another server", self, err)
		return
	case !ok:
		f.unavailable(w, r, "no node decides for the cluster at the moment (an election is under way): retry in a few seconds")
		return
	case p.Node == self:
		f.forget()
		f.unavailable(w, r, "node %s is taking over the decisions for the cluster: retry in a moment", self)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(f.nodeContext(p.URL), cancel)
	defer stop()
	f.proxy(p.URL).ServeHTTP(w, r.WithContext(ctx))
}

func (f *Forwarder) proxy(target string) *httputil.ReverseProxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.proxies[target]; p != nil {
		return p
	}
	u, err := url.Parse(target)
	if err != nil {
		u = &url.URL{Scheme: "http", Host: target}
	}
	self := f.cfg.Self.Node
	p := &httputil.ReverseProxy{
		Transport: f.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Set(ForwardedHeader, self)
			h.Set(ClientAddrHeader, pr.In.RemoteAddr)
			h.Set(SignatureHeader, hex.EncodeToString(f.sign(self, pr.In.RemoteAddr)))
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.forget()
			f.unavailable(w, r, "node %s could not reach the deciding node at %s (%v): retry in a moment", self, target, err)
		},
	}
	f.proxies[target] = p
	return p
}

// target returns the decider, from the cache while it is fresh.
func (f *Forwarder) target(ctx context.Context) (Peer, bool, error) {
	f.mu.Lock()
	if time.Since(f.readAt) < deciderCacheTTL {
		p, ok := f.cached, f.found
		f.mu.Unlock()
		return p, ok, nil
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	p, ok, err := f.cfg.Directory.Decider(ctx)
	if err != nil {
		return p, false, err
	}
	f.mu.Lock()
	f.cached, f.found, f.readAt = p, ok, time.Now()
	f.mu.Unlock()
	return p, ok, nil
}

func (f *Forwarder) forget() {
	f.mu.Lock()
	f.readAt = time.Time{}
	f.mu.Unlock()
}

// nodeContext returns a context that ends when the node at target no
// longer decides, as far as this node can tell.
func (f *Forwarder) nodeContext(target string) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	nc, ok := f.toNode[target]
	if !ok {
		nc.ctx, nc.cancel = context.WithCancel(f.ctx)
		f.toNode[target] = nc
	}
	return nc.ctx
}

// settle ends the requests forwarded to every node but the one that
// decides now (all of them when none does or this node cannot tell), and
// caches the answer.
func (f *Forwarder) settle(p Peer, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for target, nc := range f.toNode {
		if err != nil || !ok || target != p.URL {
			nc.cancel()
			delete(f.toNode, target)
		}
	}
	if err == nil {
		f.cached, f.found, f.readAt = p, ok, time.Now()
	} else {
		f.readAt = time.Time{}
	}
}
