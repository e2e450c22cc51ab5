// Package httpapi is Usher's HTTP API v1: the server that translates
// requests into ledger calls, and the client the CLI uses to call it.
package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// maxBodySize bounds a request body; a license file is the largest.
const maxBodySize = 2 << 20

// Server serves the HTTP API for one ledger.
type Server struct {
	ledger     *usher.Ledger
	adminToken string
	logger     *slog.Logger
	mux        *http.ServeMux

	// Observability and administration (events.go, admin.go).
	events  *eventlog.Log
	metrics http.Handler
	adm     Admin
	now     func() time.Time
}

// Config configures a Server. Ledger and AdminToken are required.
type Config struct {
	Ledger     *usher.Ledger
	AdminToken string
	Logger     *slog.Logger

	// Optional: without them their endpoints are not served.
	Events  *eventlog.Log    // GET /v1/events, /v1/events/stream, /v1/usage
	Metrics http.Handler     // GET /metrics
	Admin   Admin            // /v1/admin/* except kick
	Now     func() time.Time // default time.Now
}

// NewServer returns a Server with its routes registered.
func NewServer(cfg Config) *Server {
	s := &Server{ledger: cfg.Ledger, adminToken: cfg.AdminToken, logger: cfg.Logger, mux: http.NewServeMux(),
		events: cfg.Events, metrics: cfg.Metrics, adm: cfg.Admin, now: cfg.Now}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /v1/leases", s.handleCheckout)
	s.mux.HandleFunc("POST /v1/leases/{id}/heartbeat", s.handleHeartbeat)
	s.mux.HandleFunc("DELETE /v1/leases/{id}", s.handleRelease)
	s.mux.HandleFunc("GET /v1/leases", s.admin(s.handleLeases))
	s.mux.HandleFunc("GET /v1/features", s.handleFeatures)
	s.mux.HandleFunc("GET /v1/queue", s.admin(s.handleQueue))
	s.mux.HandleFunc("POST /v1/licenses", s.admin(s.handleAddLicense))
	s.mux.HandleFunc("GET /v1/licenses", s.admin(s.handleLicenses))
	s.mux.HandleFunc("DELETE /v1/licenses/{id}", s.admin(s.handleRemoveLicense))
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.obsRoutes()
	s.adminRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, usher.Errorf(ENotFound, "no such endpoint: %s %s; see docs/api.md", r.Method, r.URL.Path))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.logger, err)
}

// isAdmin reports whether the request carries the admin token.
func (s *Server) isAdmin(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.adminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.adminToken)) == 1
}

func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.isAdmin(r) {
			s.error(w, r, usher.Errorf(usher.EUnauthorized, "this endpoint needs the admin token: send \"Authorization: Bearer <token>\" with the token from the server's admin.token file"))
			return
		}
		h(w, r)
	}
}

// CheckoutRequest is the body of POST /v1/leases.
type CheckoutRequest struct {
	Feature string       `json:"feature"`
	Client  usher.Client `json:"client"`
	Wait    string       `json:"wait,omitempty"`
}

// LeaseResponse is a lease as the API returns it.
type LeaseResponse struct {
	usher.Lease
	HeartbeatInterval string `json:"heartbeat_interval"`
}

// HeartbeatResponse is the body of a successful heartbeat.
type HeartbeatResponse struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// FormatDuration writes d in seconds to the millisecond, as "60s" or "1.5s".
func FormatDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "s"
}

func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	var body CheckoutRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	req := usher.CheckoutRequest{Feature: body.Feature, Client: body.Client}
	if body.Wait != "" {
		d, err := time.ParseDuration(body.Wait)
		if err != nil {
			s.error(w, r, usher.Errorf(usher.EInvalid, "wait %q is not a duration: use a value like \"120s\"", body.Wait))
			return
		}
		req.Wait = d
	}
	lease, created, err := s.ledger.Checkout(r.Context(), req)
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, LeaseResponse{Lease: lease, HeartbeatInterval: FormatDuration(s.ledger.HeartbeatInterval())})
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	lease, err := s.ledger.Heartbeat(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, HeartbeatResponse{ID: lease.ID, ExpiresAt: lease.ExpiresAt})
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	if err := s.ledger.Release(r.Context(), r.PathValue("id"), s.isAdmin(r)); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleLeases(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"leases": s.ledger.Leases()})
}

func (s *Server) handleFeatures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"features": s.ledger.Features()})
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) {
	waiters := s.ledger.Waiters()
	if waiters == nil {
		waiters = []usher.Waiter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"waiters": waiters})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// decodeJSON reads a JSON request body into v, as an EInvalid error on
// failure.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return usher.Errorf(usher.EInvalid, "request body is larger than %d bytes", tooBig.Limit)
		}
		if errors.Is(err, io.EOF) {
			return usher.Errorf(usher.EInvalid, "request body is empty: send a JSON object")
		}
		return usher.Errorf(usher.EInvalid, "request body is not valid JSON: %v", err)
	}
	return nil
}
