package httpapi

import (
	"context"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// Admin is what the administration endpoints need from the running server
// beyond the ledger. The daemon implements it.
type Admin interface {
	// Info describes the running server.
	Info() wire.ServerInfo
	// Settings returns the settings that can change at runtime.
	Settings() []wire.Setting
	// ChangeSettings sets runtime values and drops those of the keys to
	// reset, going back to the configuration's, and persists the change:
	// all of it, or nothing when any part is refused. Errors: EInvalid
	// naming the key.
	ChangeSettings(ctx context.Context, set map[string]string, reset []string) ([]wire.Change, error)
	// Reload reads the configuration again and applies what can change
	// live.
	Reload(ctx context.Context) (wire.ReloadResult, error)
	// Shutdown starts a graceful shutdown and returns at once.
	Shutdown()
	// Restart starts a graceful shutdown after which the server starts
	// again with the same configuration, and returns at once.
	Restart()
}

// adminRoutes registers the administration endpoints. Read-only ones need
// the monitor role, the others admin.
func (s *Server) adminRoutes() {
	s.mux.HandleFunc("POST /v1/admin/kick", s.admin(s.handleKick))
	s.mux.HandleFunc("GET /v1/admin/bans", s.monitor(s.handleBans))
	s.mux.HandleFunc("DELETE /v1/admin/bans/{id}", s.admin(s.handleUnban))
	if s.adm == nil {
		return
	}
	s.mux.HandleFunc("GET /v1/admin/info", s.monitor(s.handleInfo))
	s.mux.HandleFunc("GET /v1/admin/settings", s.monitor(s.handleSettings))
	s.mux.HandleFunc("PUT /v1/admin/settings", s.admin(s.handleSetSettings))
	s.mux.HandleFunc("PATCH /v1/admin/settings", s.admin(s.handleSetSettings))
	s.mux.HandleFunc("POST /v1/admin/reload", s.admin(s.handleReload))
	s.mux.HandleFunc("POST /v1/admin/shutdown", s.admin(s.handleShutdown))
	s.mux.HandleFunc("POST /v1/admin/restart", s.admin(s.handleRestart))
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.adm.Info())
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.SettingsResponse{Settings: s.adm.Settings()})
}

func (s *Server) handleSetSettings(w http.ResponseWriter, r *http.Request) {
	var req wire.SettingsRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if len(req.Set) == 0 && len(req.Reset) == 0 {
		s.error(w, r, usher.Errorf(usher.EInvalid, "nothing to change: send {\"set\": {\"key\": \"value\"}} or {\"reset\": [\"key\"]}"))
		return
	}
	changed, err := s.adm.ChangeSettings(r.Context(), req.Set, req.Reset)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.SettingsResponse{Settings: s.adm.Settings(), Changed: changed})
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	res, err := s.adm.Reload(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleShutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, wire.StatusResponse{Status: "shutting down"})
	s.adm.Shutdown()
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, wire.StatusResponse{Status: "restarting"})
	s.adm.Restart()
}
