package httpapi

import (
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

// Events of a user changing their own password, reported to
// Config.Observer: Client.User is the user, Client.Host the remote
// address.
const (
	EventPasswordChanged      = "password_changed"
	EventPasswordChangeFailed = "password_change_failed" // Reason says why
)

// handleOwnPassword lets a logged-in user change their own password. It
// answers a new login token, since the change ends the one it came with.
func (s *Server) handleOwnPassword(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if p.Kind != auth.KindUser {
		s.error(w, r, usher.Errorf(usher.EUnauthorized, "only a user can change their own password: log in with usher login first (an admin sets another user's with usher user passwd NAME)"))
		return
	}
	var body wire.OwnPasswordRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	who := usher.Client{User: p.Name, Host: remoteIP(r)}
	token, exp, err := s.auth.ChangePassword(r.Context(), p.Name, body.OldPassword, body.NewPassword, remoteIP(r))
	if err != nil {
		s.emit(usher.Event{Type: EventPasswordChangeFailed, Client: who, Reason: usher.ErrorCode(err)})
		s.error(w, r, err)
		return
	}
	s.emit(usher.Event{Type: EventPasswordChanged, Client: who})
	s.logger.Info("password changed", "user", p.Name, "by", p.Name)
	writeJSON(w, http.StatusOK, wire.LoginResponse{Token: token, ExpiresAt: exp})
}
