package httpapi

import (
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
)

// KickRequest is the body of POST /v1/admin/kick. Every lease that matches
// all the filter fields given is kicked; All kicks every lease and takes
// no filter. Ban, a duration like "10m", also bans the user or host the
// filter names (on its feature, if it names one) for that long.
type KickRequest struct {
	LeaseID  string `json:"lease_id,omitempty"`
	User     string `json:"user,omitempty"`
	Host     string `json:"host,omitempty"`
	Feature  string `json:"feature,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	All      bool   `json:"all,omitempty"`
	Ban      string `json:"ban,omitempty"`
}

func (k KickRequest) filtered() bool {
	return k.LeaseID != "" || k.User != "" || k.Host != "" || k.Feature != "" || k.ClientID != ""
}

func (k KickRequest) match(l usher.Lease) bool {
	return (k.LeaseID == "" || k.LeaseID == l.ID) && (k.User == "" || k.User == l.Client.User) &&
		(k.Host == "" || k.Host == l.Client.Host) && (k.Feature == "" || k.Feature == l.Feature) &&
		(k.ClientID == "" || k.ClientID == l.Client.ID)
}

// check refuses a request that names no leases, names them twice over, or
// asks for a ban it cannot set, and returns the ban asked for.
func (k KickRequest) check() (*usher.BanRequest, error) {
	switch {
	case k.All && k.filtered():
		return nil, usher.Errorf(usher.EInvalid, "\"all\" kicks every lease and takes no filter: send {\"all\": true} alone, or only the filter")
	case !k.All && !k.filtered():
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

// KickResponse lists the leases kicked, and the ban set, if one was asked
// for.
type KickResponse struct {
	Kicked []string   `json:"kicked"`
	Ban    *usher.Ban `json:"ban,omitempty"`
}

// BansResponse is the body of GET /v1/admin/bans.
type BansResponse struct {
	Bans []usher.Ban `json:"bans"`
}

func (s *Server) handleKick(w http.ResponseWriter, r *http.Request) {
	var req KickRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	banReq, err := req.check()
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := KickResponse{Kicked: []string{}}
	if banReq != nil { // ban first: a client kicked before it could take the seat again
		b, err := s.ledger().Ban(r.Context(), *banReq)
		if err != nil {
			s.error(w, r, err)
			return
		}
		out.Ban = &b
	}
	for _, l := range s.ledger().Leases() {
		if !req.All && !req.match(l) {
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
	writeJSON(w, http.StatusOK, BansResponse{Bans: s.ledger().Bans()})
}

func (s *Server) handleUnban(w http.ResponseWriter, r *http.Request) {
	b, err := s.ledger().Unban(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
