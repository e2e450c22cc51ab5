package cluster

import (
	"bytes"
	"context"
	"crypto/subtle"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/httpapi"
)

// ForwardedHeader marks a request that a node forwarded to the decider.
// A node that receives one and does not decide answers 503 instead of
// forwarding again, so requests never loop between nodes.
const ForwardedHeader = "Usher-Forwarded-By"

// deciderCacheTTL is how long a node trusts what it last read about who
// decides; a failed forward forgets it at once.
const deciderCacheTTL = 250 * time.Millisecond

// ServeHTTP serves the HTTP API: from this node's ledger while it
// decides, otherwise by forwarding the request to the node that decides.
// While nobody decides it answers 503 (code unavailable), which clients
// retry, on this node or another of their server list.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/cluster" && r.Method == http.MethodGet:
		n.handleStatus(w, r)
		return
	case r.URL.Path == "/healthz":
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": n.cfg.NodeName})
		return
	}
	if t := n.current(); t != nil {
		// A request in flight when the term ends stops waiting in line.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(t.ctx, cancel)
		defer stop()
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost && r.URL.Path == "/v1/leases" {
			n.serveCheckout(w, r, t)
			return
		}
		t.api.ServeHTTP(w, r)
		return
	}
	if by := r.Header.Get(ForwardedHeader); by != "" {
		n.unavailable(w, r, "node %s forwarded this request to node %s, which no longer decides: retry in a moment", by, n.cfg.NodeName)
		return
	}
	n.fwd.forward(w, r)
}

func (n *Node) unavailable(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	w.Header().Set("Retry-After", "1")
	httpapi.WriteError(w, r, n.logger, usher.Errorf(usher.EUnavailable, format, args...))
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || n.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(n.cfg.AdminToken)) != 1 {
		httpapi.WriteError(w, r, n.logger, usher.Errorf(usher.EUnauthorized, "this endpoint needs the admin token: send \"Authorization: Bearer <token>\" with the token from the server's admin.token file"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	st, err := n.Status(ctx)
	if err != nil {
		httpapi.WriteError(w, r, n.logger, usher.Errorf(usher.EUnavailable, "cannot read the cluster's state from etcd (%v): check that a majority of the etcd members is up", err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}

// forwarder sends requests to the node that decides.
type forwarder struct {
	n         *Node
	transport *http.Transport

	mu      sync.Mutex
	cached  leaderValue
	found   bool
	readAt  time.Time
	proxies map[string]*httputil.ReverseProxy
	// Requests forwarded to a node end when it no longer decides: a node
	// cut off the network may never answer them.
	toNode map[string]nodeContext
}

// nodeContext ends when its node no longer decides.
type nodeContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// forwardDialTimeout bounds connecting to the deciding node: a node that
// is down on a real network does not refuse, it stays silent.
const forwardDialTimeout = time.Second

func newForwarder(n *Node) *forwarder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.ResponseHeaderTimeout = 0 // a checkout may wait in line
	tr.DialContext = (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 15 * time.Second}).DialContext
	return &forwarder{n: n, transport: tr, proxies: make(map[string]*httputil.ReverseProxy),
		toNode: make(map[string]nodeContext)}
}

// nodeContext returns a context that ends when the node at target no
// longer decides, as far as this node can tell.
func (f *forwarder) nodeContext(target string) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	nc, ok := f.toNode[target]
	if !ok {
		nc.ctx, nc.cancel = context.WithCancel(f.n.ctx)
		f.toNode[target] = nc
	}
	return nc.ctx
}

// settle ends the requests forwarded to every node but the one that
// decides now (all of them when none does or this node cannot tell), and
// caches the answer.
func (f *forwarder) settle(v leaderValue, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for target, nc := range f.toNode {
		if err != nil || !ok || target != v.URL {
			nc.cancel()
			delete(f.toNode, target)
		}
	}
	if err == nil {
		f.cached, f.found, f.readAt = v, ok, time.Now()
	} else {
		f.readAt = time.Time{}
	}
}

// watch follows the election until ctx ends, so that requests forwarded
// to a node that stopped deciding end at once rather than when their
// client gives up. When the watch breaks (this node lost etcd's leader,
// or its connection) it reads the election again every half second.
func (f *forwarder) watch(ctx context.Context) {
	refresh := func() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		v, ok, err := f.n.decider(rctx)
		if ctx.Err() == nil {
			f.settle(v, ok, err)
		}
	}
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range f.n.cfg.Client.Watch(wctx, f.n.electionPrefix()+"/", clientv3.WithPrefix()) {
			if resp.Err() != nil {
				break
			}
			refresh()
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		refresh()
	}
}

func (f *forwarder) close() { f.transport.CloseIdleConnections() }

// target returns the decider, from the cache while it is fresh.
func (f *forwarder) target(ctx context.Context) (leaderValue, bool, error) {
	f.mu.Lock()
	if time.Since(f.readAt) < deciderCacheTTL {
		v, ok := f.cached, f.found
		f.mu.Unlock()
		return v, ok, nil
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, ok, err := f.n.decider(ctx)
	if err != nil {
		return v, false, err
	}
	f.mu.Lock()
	f.cached, f.found, f.readAt = v, ok, time.Now()
	f.mu.Unlock()
	return v, ok, nil
}

func (f *forwarder) forget() {
	f.mu.Lock()
	f.readAt = time.Time{}
	f.mu.Unlock()
}

func (f *forwarder) forward(w http.ResponseWriter, r *http.Request) {
	n := f.n
	v, ok, err := f.target(r.Context())
	switch {
	case err != nil:
		n.unavailable(w, r, "node %s cannot reach etcd to find the node that decides (%v): retry, or use another server", n.cfg.NodeName, err)
		return
	case !ok:
		n.unavailable(w, r, "no node decides for the cluster at the moment (an election is under way): retry in a few seconds")
		return
	case v.Node == n.cfg.NodeName:
		f.forget()
		n.unavailable(w, r, "node %s is taking over the decisions for the cluster: retry in a moment", n.cfg.NodeName)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(f.nodeContext(v.URL), cancel)
	defer stop()
	f.proxy(v.URL).ServeHTTP(w, r.WithContext(ctx))
}

func (f *forwarder) proxy(target string) *httputil.ReverseProxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.proxies[target]; p != nil {
		return p
	}
	u, err := url.Parse(target)
	if err != nil {
		u = &url.URL{Scheme: "http", Host: target}
	}
	p := &httputil.ReverseProxy{
		Transport: f.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, f.n.cfg.NodeName)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.forget()
			f.n.unavailable(w, r, "node %s could not reach the deciding node at %s (%v): retry in a moment", f.n.cfg.NodeName, target, err)
		},
	}
	f.proxies[target] = p
	return p
}

// serveCheckout serves a checkout and, before refusing it for want of
// seats, confirms that this node still decides (see confirm).
func (n *Node) serveCheckout(w http.ResponseWriter, r *http.Request, t *term) {
	rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	t.api.ServeHTTP(rec, r)
	if rec.status == http.StatusConflict && !n.confirm(r.Context(), t) {
		n.unavailable(w, r, "node %s lost its role while answering: retry, and the request will reach the node that decides now", n.cfg.NodeName)
		return
	}
	maps.Copy(w.Header(), rec.header)
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// bufferedResponse holds a response until it may be sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
