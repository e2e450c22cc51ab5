package httpapi

import (
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// kickFiltered reports whether k names leases by any field.
func kickFiltered(k wire.KickRequest) bool {
	return k.LeaseID != "" || k.User != "" || k.Host != "" || k.Feature != "" || k.ClientID != ""
}

// kickMatches reports whether lease l matches every field given in k.
func kickMatches(k wire.KickRequest, l usher.Lease) bool {
	return (k.LeaseID == "" || k.LeaseID == l.ID) && (k.User == "" || k.User == l.Client.User) &&
		(k.Host == "" || k.Host == l.Client.Host) && (k.Feature == "" || k.Feature == l.Feature) &&
		(k.ClientID == "" || k.ClientID == l.Client.ID)
}

// checkKick refuses a request that names no leases, names them twice over, or
// asks for a ban it cannot set, and returns the ban asked for.
func checkKick(k wire.KickRequest) (*usher.BanRequest, error) {
	switch {
	case k.All && kickFiltered(k):
		return nil, usher.Errorf(usher.EInvalid, "\"all\" kicks every lease and takes no filter: send {\"all\": true} alone, or only the filter")
	case !k.All && !kickFiltered(k):
		return nil, usher.Errorf(usher.EInvalid, "say which leases to kick: give lease_id, user, host, feature or client_id, or \"all\": true")
	case k.Ban == "":
		return nil, nil
	case k.All:
		return nil, usher.Errorf(usher.EInvalid, "a ban names a user or a host: kick with user or host (and optionally feature) to ban, not with all")
	}
	d, err := time.ParseDuration(k.Ban)
	if err != nil {
		return nil, usher.Errorf(usher.EInvalid, "ban %q is not a duration: give one like 10m or 24h", k.Ban)
	}
	req := &usher.BanRequest{Feature: k.Feature, User: k.User, Host: k.Host, For: d}
	return req, req.Validate()
}

func (s *Server) handleKick(w http.ResponseWriter, r *http.Request) {
	var req wire.KickRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	banReq, err := checkKick(req)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := wire.KickResponse{Kicked: []string{}}
	if banReq != nil { // ban first: a client kicked before it could take the seat again
		b, err := s.ledger().Ban(r.Context(), *banReq)
		if err != nil {
			s.error(w, r, err)
			return
		}
		out.Ban = &b
	}
	for _, l := range s.ledger().Leases() {
		if !req.All && !kickMatches(req, l) {
			continue
		}
		err := s.ledger().Release(r.Context(), l.ID, usher.Owner{}, true)
		if usher.ErrorCode(err) == usher.ELeaseNotFound {
			continue // ended meanwhile
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		out.Kicked = append(out.Kicked, l.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleBans(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.BansResponse{Bans: s.ledger().Bans()})
}

func (s *Server) handleUnban(w http.ResponseWriter, r *http.Request) {
	b, err := s.ledger().Unban(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
