package httpapi

import (
	"errors"
	"io"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// accessRoutes registers the endpoints of who may use a seat: registered
// users and the lifting of Licensee Secret bindings.
func (s *Server) accessRoutes() {
	s.mux.HandleFunc("GET /v1/features/{name}/users", s.monitor(s.handleFeatureUsers))
	s.mux.HandleFunc("POST /v1/features/{name}/users", s.admin(s.handleAssign))
	s.mux.HandleFunc("DELETE /v1/features/{name}/users", s.admin(s.handleUnassign))
	s.mux.HandleFunc("POST "+wire.PathUnbind, s.admin(s.handleUnbind))
}

func registrations(feature string, regs []usher.Registration) wire.FeatureUsersResponse {
	if regs == nil {
		regs = []usher.Registration{}
	}
	return wire.FeatureUsersResponse{Feature: feature, Users: regs}
}

func (s *Server) handleFeatureUsers(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	writeJSON(w, http.StatusOK, registrations(name, s.ledger().Registrations(name)))
}

func (s *Server) handleAssign(w http.ResponseWriter, r *http.Request) {
	var req wire.FeatureUsersRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	name := r.PathValue("name")
	regs, err := s.ledger().Assign(r.Context(), name, req.Users)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, registrations(name, regs))
}

func (s *Server) handleUnassign(w http.ResponseWriter, r *http.Request) {
	var req wire.FeatureUsersRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	name := r.PathValue("name")
	regs, err := s.ledger().Unassign(r.Context(), name, req.Users)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, registrations(name, regs))
}

func (s *Server) handleUnbind(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = usher.Errorf(usher.EUnbindInvalid, "unbind file is larger than %d bytes: this is not an Usher unbind file", tooBig.Limit)
		}
		s.error(w, r, err)
		return
	}
	b, err := s.ledger().Unbind(r.Context(), text)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.UnbindResponse{LicenseID: b.LicenseID, BoundAt: b.BoundAt})
}
