package httpapi

import (
	"net/http"
)

// handleServer answers GET /v1/server: the identity a license can be bound
// to, for anyone who asks.
func (s *Server) handleServer(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.server)
}
