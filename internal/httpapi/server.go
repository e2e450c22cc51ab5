// Package httpapi serves Usher's HTTP API v1: it translates requests into
// ledger calls. The bodies, error codes and paths it speaks are those of
// internal/wire.
package httpapi

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/wire"
)

// DefaultMaxRequestSize bounds a request body unless Config says
// otherwise; a license file is the largest.
const DefaultMaxRequestSize = 2 << 20

// Server serves the HTTP API for one ledger.
type Server struct {
	led      atomic.Pointer[usher.Ledger] // see SetLedger
	forward  http.Handler                 // the routes a node does not answer itself; nil: s.mux
	node     string
	auth     *auth.Authority
	limiter  *rateLimiter // nil: no rate limit
	maxBody  int64
	observer usher.Observer
	now      func() time.Time
	logger   *slog.Logger
	mux      *routeMux

	// Observability and administration (events.go, admin.go).
	events   *eventlog.Log
	metrics  http.Handler
	adm      Admin
	cluster  ClusterSource
	server   *wire.ServerIdentity
	session  func() *usher.Session // nil: answers carry no lease token
	policy   PolicyAdmin
	webhooks Webhooks
	console  http.Handler // the web console; nil: none

	borrowSigner crypto.Signer // nil: borrowed leases get no token
}

// Config configures a Server. Ledger is required, and one of Auth and
// AdminToken.
type Config struct {
	Ledger *usher.Ledger
	// Auth authenticates requests. When nil, the only credential is
	// AdminToken.
	Auth           *auth.Authority
	AdminToken     string
	RateLimit      RateLimit      // per remote IP; zero turns it off
	MaxRequestSize int64          // bytes; default DefaultMaxRequestSize
	Observer       usher.Observer // receives EventLoginFailed and EventRateLimited
	Now            func() time.Time
	Logger         *slog.Logger

	// Optional: without them their endpoints are not served.
	Events  *eventlog.Log        // GET /v1/events, /v1/events/stream, /v1/usage
	Metrics http.Handler         // GET /metrics
	Admin   Admin                // /v1/admin/* except kick
	Cluster ClusterSource        // GET /v1/cluster
	Server  *wire.ServerIdentity // GET /v1/server
	Policy  PolicyAdmin          // /v1/policy
	Hooks   Webhooks             // /v1/webhooks
	Console http.Handler         // GET /ui/, the web console; every node serves it itself
	// Session returns the session that signs lease tokens (token.go);
	// nil, or a nil session, leaves them out.
	Session func() *usher.Session

	// Node names the server in GET /healthz.
	Node string
	// BorrowSigner, if set, signs the borrow tokens of borrowed leases:
	// the server's identity (its Public() an ed25519.PublicKey).
	BorrowSigner crypto.Signer
	// Forward, if set, wraps every route but those a node answers itself
	// (GET /healthz, /metrics and /v1/cluster): in a cluster, it sends
	// them to the node that decides.
	Forward func(http.Handler) http.Handler
}

// NewServer returns a Server with its routes registered.
func NewServer(cfg Config) *Server {
	s := &Server{auth: cfg.Auth, node: cfg.Node, cluster: cfg.Cluster, maxBody: cfg.MaxRequestSize, observer: cfg.Observer,
		now: cfg.Now, events: cfg.Events, metrics: cfg.Metrics, adm: cfg.Admin, logger: cfg.Logger, mux: newRouteMux(),
		server: cfg.Server, session: cfg.Session, policy: cfg.Policy, webhooks: cfg.Hooks, console: cfg.Console, borrowSigner: cfg.BorrowSigner}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxRequestSize
	}
	if s.auth == nil {
		// Without a store and with a random key, Open cannot fail.
		s.auth, _ = auth.Open(context.Background(), auth.Config{AdminToken: cfg.AdminToken, Now: s.now})
	}
	s.limiter = newRateLimiter(cfg.RateLimit, s.now)
	s.led.Store(cfg.Ledger)
	s.routes()
	if cfg.Forward != nil {
		s.forward = cfg.Forward(s.mux)
	}
	return s
}

// SetLedger makes the server serve led from now on: the ledger of the
// term a node starts to decide.
func (s *Server) SetLedger(led *usher.Ledger) { s.led.Store(led) }

// ledger returns the ledger served now.
func (s *Server) ledger() *usher.Ledger { return s.led.Load() }

// nodeLocal reports whether r is for a route that every node answers
// itself, never forwarded: its health, its metrics, the cluster's state as
// it sees it.
func nodeLocal(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/metrics", "/v1/cluster", wire.PathServer:
		return true
	}
	return isConsole(r.URL.Path)
}

// routes registers every endpoint with the access it needs; see
// docs/security.md for the table.
func (s *Server) routes() {
	s.mux.HandleFunc("POST /v1/leases", s.require(auth.Use, s.handleCheckout))
	s.mux.HandleFunc("POST /v1/leases/{id}/heartbeat", s.require(auth.Use, s.handleHeartbeat))
	s.mux.HandleFunc("DELETE /v1/leases/{id}", s.require(auth.Use, s.handleRelease)) // an admin credential kicks
	s.mux.HandleFunc("GET /v1/leases", s.monitor(s.handleLeases))
	s.mux.HandleFunc("GET /v1/features", s.require(auth.Read, s.handleFeatures))
	s.mux.HandleFunc("GET /v1/queue", s.monitor(s.handleQueue))
	s.mux.HandleFunc("POST /v1/licenses", s.admin(s.handleAddLicense))
	s.mux.HandleFunc("GET /v1/licenses", s.monitor(s.handleLicenses))
	s.mux.HandleFunc("DELETE /v1/licenses/{id}", s.admin(s.handleRemoveLicense))
	s.mux.HandleFunc("GET /v1/licenses/{id}/text", s.require(auth.Use, s.handleLicenseText)) // token.go
	s.mux.HandleFunc("POST /v1/licenses/{id}/release", s.admin(s.handleReleaseLicense))
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	if s.server != nil {
		s.mux.HandleFunc("GET "+wire.PathServer, s.handleServer) // no credential: what a customer checks first
	}
	s.mux.HandleFunc("GET "+PathOpenAPI, s.handleOpenAPI)  // no credential: the contract is public
	s.mux.HandleFunc("POST /v1/auth/login", s.handleLogin) // ignores any credential sent
	s.mux.HandleFunc("GET /v1/users", s.admin(s.handleUsers))
	s.mux.HandleFunc("POST /v1/users", s.admin(s.handleAddUser))
	s.mux.HandleFunc("DELETE /v1/users/{name}", s.admin(s.handleRemoveUser))
	s.mux.HandleFunc("PUT /v1/users/{name}/password", s.admin(s.handleSetPassword))
	s.mux.HandleFunc("PUT /v1/users/me/password", s.require(auth.Public, s.handleOwnPassword)) // the user's own login
	s.mux.HandleFunc("GET /v1/tokens", s.admin(s.handleTokens))
	if s.cluster != nil {
		s.mux.HandleFunc("GET /v1/cluster", s.admin(s.handleCluster))
	}
	s.mux.HandleFunc("POST /v1/tokens", s.admin(s.handleCreateToken))
	s.mux.HandleFunc("DELETE /v1/tokens/{id}", s.admin(s.handleRevokeToken))
	s.obsRoutes()
	s.adminRoutes()
	s.accessRoutes()
	s.policyRoutes()
	s.webhookRoutes() // webhooks.go
	s.meterRoutes()   // meter.go
	s.consoleRoutes() // console.go
	s.mux.HandleFunc("/", s.handleUnknown)
}

// handleUnknown answers requests no route matches: 405 with the allowed
// methods when the path exists, else 404. When the path lacks one segment
// of a route for this method (POST /v1/leases/heartbeat, missing the
// lease id), the message names that route rather than the methods the
// shorter path happens to allow.
func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	msg := fmt.Sprintf("no such endpoint: %s %s; see docs/api.md", r.Method, r.URL.Path)
	if len(allowed) > 0 {
		msg = fmt.Sprintf("%s is not allowed on %s, which allows %s; see docs/api.md", r.Method, r.URL.Path, strings.Join(allowed, " and "))
	}
	if route, wildcard := s.routeWithOneMore(r); route != "" {
		msg = fmt.Sprintf("no route for %s %s: the path needs %s: %s", r.Method, r.URL.Path, wildcard, route)
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.error(w, r, usher.Errorf(wire.EMethodNotAllowed, "%s", msg))
		return
	}
	s.error(w, r, usher.Errorf(wire.ENotFound, "%s", msg))
}

// routeWithOneMore finds a route for r's method whose path is r's with one
// wildcard segment inserted, and returns its pattern and that wildcard.
func (s *Server) routeWithOneMore(r *http.Request) (pattern, wildcard string) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i := 1; i <= len(segs); i++ {
		longer := "/" + strings.Join(slices.Concat(segs[:i], []string{"x"}, segs[i:]), "/")
		probe := r.Clone(r.Context())
		probe.URL = &url.URL{Path: longer}
		_, p := s.mux.Handler(probe)
		_, route, _ := strings.Cut(p, " ")
		if parts := strings.Split(strings.Trim(route, "/"), "/"); len(parts) == len(segs)+1 && strings.HasPrefix(parts[i], "{") {
			return p, parts[i]
		}
	}
	return "", ""
}

// ServeHTTP implements http.Handler. At debug level it logs every
// request; below, that costs one level check.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.logger.Enabled(r.Context(), slog.LevelDebug) {
		s.serveLogged(w, r)
		return
	}
	s.serve(w, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.limit(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	if p := r.URL.EscapedPath(); !canonical(p) {
		// ServeMux would redirect with an HTML body; no route has such a path.
		s.error(w, r, usher.Errorf(wire.ENotFound, "no such endpoint: %s %s: write the path without empty, . or .. segments; see docs/api.md", r.Method, p))
		return
	}
	if s.forward != nil && !nodeLocal(r) {
		s.forward.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// canonical reports whether p is a path ServeMux serves as it is, rather
// than redirecting to its cleaned form.
func canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || p[len(p)-1] == '/' && c+"/" == p
}

func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.logger, err)
}

func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	var body wire.CheckoutRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	if err := checkNonce(body.Nonce); err != nil {
		s.error(w, r, err)
		return
	}
	req := usher.CheckoutRequest{Feature: body.Feature, Client: body.Client, Owner: ownerOf(r), Addr: clientAddr(r), Secret: body.Client.Secret,
		Count: body.Count, Version: body.Version}
	req.Client.Secret = "" // only its hash is ever kept
	if principalOf(r.Context()).Role == auth.RoleAdmin {
		req.Addr = "" // the admin is trusted with the server: no per-address limit counts its checkouts
	}
	if body.Wait != "" {
		d, err := time.ParseDuration(body.Wait)
		if err != nil {
			s.error(w, r, usher.Errorf(usher.EInvalid, "wait %q is not a duration: use a value like \"120s\"", body.Wait))
			return
		}
		req.Wait = d
	}
	if body.Borrow != "" {
		d, err := time.ParseDuration(body.Borrow)
		if err != nil || d <= 0 {
			s.error(w, r, usher.Errorf(usher.EInvalid, "borrow %q is not a positive duration: use a value like \"72h\"", body.Borrow))
			return
		}
		req.Borrow = d
	}
	lease, created, err := s.ledger().Checkout(r.Context(), req)
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	resp := wire.LeaseResponse{Lease: lease, HeartbeatInterval: wire.FormatDuration(s.ledger().HeartbeatInterval()),
		LeaseProof: s.proof(lease, body.Nonce)}
	if !lease.BorrowedUntil.IsZero() {
		if resp.BorrowToken, err = s.borrowToken(lease); err != nil {
			s.error(w, r, err)
			return
		}
	}
	writeJSON(w, status, resp)
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	nonce, err := heartbeatNonce(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	lease, err := s.ledger().Heartbeat(r.Context(), r.PathValue("id"), ownerOf(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	hb := wire.HeartbeatResponse{ID: lease.ID, ExpiresAt: lease.ExpiresAt}
	if nonce != "" {
		// The most frequent request: signed only for a client that asks
		// for proof. Without a nonce a token proves nothing new.
		hb.LeaseProof = s.proof(lease, nonce)
	}
	writeHeartbeat(w, hb)
}

// writeHeartbeat writes the answer to the most frequent request by hand:
// it is the same as writeJSON's for the IDs the server makes, at a
// fraction of the cost.
func writeHeartbeat(w http.ResponseWriter, hb wire.HeartbeatResponse) {
	for i := 0; i < len(hb.ID); i++ {
		if c := hb.ID[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			writeJSON(w, http.StatusOK, hb)
			return
		}
	}
	buf := make([]byte, 0, 96+len(hb.Token)+len(hb.SessionCert))
	buf = append(buf, `{"id":"`...)
	buf = append(buf, hb.ID...)
	buf = append(buf, `","expires_at":"`...)
	buf = hb.ExpiresAt.AppendFormat(buf, time.RFC3339Nano)
	if hb.Token != "" { // base64url and dots: nothing to escape
		buf = append(buf, `","token":"`...)
		buf = append(buf, hb.Token...)
		buf = append(buf, `","session_cert":"`...)
		buf = append(buf, hb.SessionCert...)
	}
	buf = append(buf, "\"}\n"...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	if err := s.ledger().Release(r.Context(), r.PathValue("id"), ownerOf(r), s.isAdmin(r)); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleLeases(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.LeasesResponse{Leases: s.ledger().Leases()})
}

func (s *Server) handleFeatures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.FeaturesResponse{Features: s.ledger().Features()})
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) {
	waiters := s.ledger().Waiters()
	if waiters == nil {
		waiters = []usher.Waiter{}
	}
	writeJSON(w, http.StatusOK, wire.QueueResponse{Waiters: waiters})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.HealthResponse{Status: "ok", Node: s.node})
}
