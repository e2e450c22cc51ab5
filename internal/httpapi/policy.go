package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/policyfile"
	"github.com/usher-lm/usher/internal/wire"
)

// PolicyAdmin keeps the policy in force and stores it, so that it outlives
// a restart and reaches every node of a cluster.
type PolicyAdmin interface {
	// Policy returns the policy in force.
	Policy() wire.PolicyResponse
	// SetPolicy puts the TOML text in force and stores it. Errors:
	// EInvalid with the line of what does not parse, or a store failure
	// (the old policy then stays).
	SetPolicy(ctx context.Context, text []byte) (wire.PolicyResponse, error)
}

// defaultCheckSince is how far back a dry run looks by default.
const defaultCheckSince = 24 * time.Hour

// maxCheckEvents bounds the events one dry run replays.
const maxCheckEvents = 20 * eventlog.MaxLimit

// policyRoutes registers the policy endpoints.
func (s *Server) policyRoutes() {
	if s.policy == nil {
		return
	}
	s.mux.HandleFunc("GET "+wire.PathPolicy, s.monitor(s.handlePolicy))
	s.mux.HandleFunc("PUT "+wire.PathPolicy, s.admin(s.handleSetPolicy))
	s.mux.HandleFunc("POST "+wire.PathPolicyCheck, s.admin(s.handleCheckPolicy))
}

func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.policy.Policy())
}

func (s *Server) handleSetPolicy(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = usher.Errorf(usher.EInvalid, "the policy is larger than %d bytes: use groups and patterns to shorten it", tooBig.Limit)
		}
		s.error(w, r, err)
		return
	}
	out, err := s.policy.SetPolicy(r.Context(), text)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCheckPolicy(w http.ResponseWriter, r *http.Request) {
	var req wire.PolicyCheckRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	since := defaultCheckSince
	if req.Since != "" {
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 {
			s.error(w, r, usher.Errorf(usher.EInvalid, "since %q is not a positive duration: give one like 24h or 90m", req.Since))
			return
		}
		since = d
	}
	p, err := policyfile.Parse([]byte(req.Policy))
	if err != nil {
		s.error(w, r, err)
		return
	}
	var recorded []usher.PolicyStep
	if s.events != nil {
		if recorded, err = s.checkoutEvents(r.Context(), s.now().Add(-since)); err != nil {
			s.error(w, r, err)
			return
		}
	}
	// The leases held now are a replay of their own: what the policy
	// would meet if put in force now, checked out in the order they were.
	var held []usher.PolicyStep
	for _, ls := range s.ledger().Leases() {
		held = append(held, usher.PolicyStep{Time: ls.IssuedAt, Feature: ls.Feature, LeaseID: ls.ID, Client: ls.Client, Addr: ls.Addr, Source: "lease"})
	}
	capacity := make(map[string]usher.Capacity)
	for _, f := range s.ledger().Features() {
		capacity[f.Name] = usher.Capacity{Seats: f.Seats, Unlimited: f.Unlimited}
	}
	out := wire.PolicyCheckResponse{Checked: countGrants(recorded) + len(held)}
	out.Denials = append(p.Check(capacity, recorded), p.Check(capacity, held)...)
	writeJSON(w, http.StatusOK, out)
}

// checkoutEvents returns the grants and ends of leases recorded since from.
func (s *Server) checkoutEvents(ctx context.Context, from time.Time) ([]usher.PolicyStep, error) {
	f := eventlog.Filter{Since: from, Limit: eventlog.MaxLimit,
		Types: []string{usher.EventLeaseGranted, usher.EventLeaseReleased, usher.EventLeaseExpired, usher.EventLeaseKicked}}
	var steps []usher.PolicyStep
	for len(steps) < maxCheckEvents {
		recs, err := s.events.Query(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			steps = append(steps, usher.PolicyStep{Time: rec.Time, Feature: rec.Feature, LeaseID: rec.LeaseID, Client: rec.Client,
				End: rec.Type != usher.EventLeaseGranted, Source: "event"})
		}
		if len(recs) < f.Limit {
			break
		}
		f.AfterID = recs[len(recs)-1].ID
	}
	return steps, nil
}

func countGrants(steps []usher.PolicyStep) int {
	n := 0
	for _, s := range steps {
		if !s.End {
			n++
		}
	}
	return n
}
