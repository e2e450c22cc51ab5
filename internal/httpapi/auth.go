package httpapi

import (
	"context"
	"net"
	"net/http"
	"strings"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

// Events this package reports to Config.Observer, next to the ledger's.
const (
	EventLoginFailed = "login_failed" // Client.User is the name tried, Client.Host the remote address
	EventRateLimited = "rate_limited" // Client.Host is the remote address; once per burst of refusals
)

type principalKey struct{}

// principalOf returns who made the request, as require found it; the zero
// Principal for an anonymous request.
func principalOf(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// bearer returns the request's bearer credential, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// require wraps h so that it runs only for requests whose credential
// grants need. Routes open to anyone (Public, and Use and Read while
// clients need no credential) ignore a credential that is invalid or does
// not grant need, and run as anonymous; elsewhere such a credential gets
// 401 or 403.
func (s *Server) require(need auth.Access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var p auth.Principal
		var err error
		if tok := bearer(r); tok != "" {
			p, err = s.auth.Authenticate(tok)
		}
		if s.open(need) {
			if err != nil || !p.Role.Allows(need) {
				p, err = auth.Principal{}, nil
			}
		} else if err == nil {
			err = s.authorize(p, need)
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// open reports whether requests without a credential may have need.
func (s *Server) open(need auth.Access) bool {
	return need == auth.Public || (need == auth.Use || need == auth.Read) && !s.auth.ClientAuthRequired()
}

// authorize checks p against a need that is not open.
func (s *Server) authorize(p auth.Principal, need auth.Access) error {
	switch {
	case p.Role.Allows(need):
		return nil
	case p.Role != "":
		return usher.Errorf(auth.EForbidden, "%s %q has role %s, which may not use this endpoint (it needs %s access)", p.Kind, p.Name, p.Role, need)
	case need == auth.Use || need == auth.Read:
		return usher.Errorf(usher.EUnauthorized, "this server requires a client credential: send \"Authorization: Bearer <client password or client token>\"")
	}
	return usher.Errorf(usher.EUnauthorized, "this endpoint needs %s access: log in with usher login, or send \"Authorization: Bearer <token>\" with an API token or the server's admin.token", need)
}

// admin wraps h for admin-only routes.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc { return s.require(auth.Admin, h) }

// monitor wraps h for read-only routes about the server's state.
func (s *Server) monitor(h http.HandlerFunc) http.HandlerFunc { return s.require(auth.Monitor, h) }

// isAdmin reports whether r carries an admin credential: the one require
// found, or else the request's own.
func (s *Server) isAdmin(r *http.Request) bool {
	if p, ok := r.Context().Value(principalKey{}).(auth.Principal); ok {
		return p.Role == auth.RoleAdmin
	}
	p, err := s.auth.Authenticate(bearer(r))
	return err == nil && p.Role == auth.RoleAdmin
}

// OwnerAddress is the Owner kind of a lease taken with a shared credential
// (the client password) or none: it belongs to the client's address.
const OwnerAddress = "address"

// ownerOf returns who a lease that r takes or uses belongs to. A personal
// credential owns its leases from any address; the client password is
// shared by every client, so like no credential it leaves the lease to the
// client's address. See "Who holds a lease" in docs/api.md.
func ownerOf(r *http.Request) usher.Owner {
	switch p := principalOf(r.Context()); p.Kind {
	case auth.KindToken:
		return usher.Owner{Kind: auth.KindToken, ID: p.ID}
	case auth.KindUser:
		return usher.Owner{Kind: auth.KindUser, ID: p.Name}
	case auth.KindAdminToken:
		return usher.Owner{Kind: auth.KindAdminToken}
	}
	return usher.Owner{Kind: OwnerAddress, ID: clientAddr(r)}
}

// clientAddr returns the address of the client a request comes from.
func clientAddr(r *http.Request) string { return remoteIP(r) }

// remoteIP returns the address a request came from, without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) emit(ev usher.Event) {
	if s.observer == nil {
		return
	}
	ev.Time = s.now()
	s.observer.Observe(ev)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body wire.LoginRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	tok, exp, err := s.auth.Login(r.Context(), body.Username, body.Password, remoteIP(r))
	if err != nil {
		if after, ok := auth.RetryAfter(err); ok {
			setRetryAfter(w, after)
		}
		switch usher.ErrorCode(err) {
		case usher.EUnauthorized:
			s.logger.Warn("login failed", "user", usher.LogSafe(body.Username), "remote", remoteIP(r))
			s.emit(usher.Event{Type: EventLoginFailed, Client: usher.Client{User: body.Username, Host: remoteIP(r)}, Reason: "wrong user name or password"})
		case usher.EInvalid: // a name too long to be anyone's: not stored, logged cut short
			s.logger.Warn("login refused: user name too long", "user", usher.LogSafe(body.Username), "remote", remoteIP(r))
		}
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.LoginResponse{Token: tok, ExpiresAt: exp})
}
