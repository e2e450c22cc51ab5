package httpapi

import (
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

func userResponse(u auth.User) wire.UserResponse {
	return wire.UserResponse{Name: u.Name, Role: string(u.Role), CreatedAt: u.CreatedAt}
}

func tokenResponse(t auth.Token) wire.TokenResponse {
	return wire.TokenResponse{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt}
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	out := []wire.UserResponse{}
	for _, u := range s.auth.Users() {
		out = append(out, userResponse(u))
	}
	writeJSON(w, http.StatusOK, wire.UsersResponse{Users: out})
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var body wire.UserRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.auth.AddUser(r.Context(), body.Username, body.Password, role)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.logger.Info("user added", "user", u.Name, "role", u.Role, "by", principalOf(r.Context()).Name)
	writeJSON(w, http.StatusCreated, userResponse(u))
}

func (s *Server) handleRemoveUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.auth.RemoveUser(r.Context(), name); err != nil {
		s.error(w, r, err)
		return
	}
	s.logger.Info("user removed", "user", name, "by", principalOf(r.Context()).Name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSetPassword(w http.ResponseWriter, r *http.Request) {
	var body wire.PasswordRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := s.auth.SetPassword(r.Context(), name, body.Password); err != nil {
		s.error(w, r, err)
		return
	}
	s.logger.Info("password changed", "user", name, "by", principalOf(r.Context()).Name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) {
	out := []wire.TokenResponse{}
	for _, t := range s.auth.Tokens() {
		out = append(out, tokenResponse(t))
	}
	writeJSON(w, http.StatusOK, wire.TokensResponse{Tokens: out})
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var body wire.TokenRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	if body.Role == "" {
		s.error(w, r, usher.Errorf(usher.EInvalid, "role is missing: use admin, monitor or client"))
		return
	}
	t, secret, err := s.auth.CreateToken(r.Context(), body.Name, auth.Role(body.Role))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.logger.Info("API token created", "token", t.Name, "id", t.ID, "role", t.Role, "by", principalOf(r.Context()).Name)
	out := tokenResponse(t)
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.auth.RevokeToken(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.logger.Info("API token revoked", "token", t.Name, "id", t.ID, "by", principalOf(r.Context()).Name)
	writeJSON(w, http.StatusOK, tokenResponse(t))
}
