package httpapi

import (
	"context"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
)

// Admin is what the administration endpoints need from the running server
// beyond the ledger. The daemon implements it.
type Admin interface {
	// Info describes the running server.
	Info() ServerInfo
	// Settings returns the settings that can change at runtime.
	Settings() []Setting
	// ChangeSettings sets runtime values and drops those of the keys to
	// reset, going back to the configuration's, and persists the change:
	// all of it, or nothing when any part is refused. Errors: EInvalid
	// naming the key.
	ChangeSettings(ctx context.Context, set map[string]string, reset []string) ([]Change, error)
	// Reload reads the configuration again and applies what can change
	// live.
	Reload(ctx context.Context) (ReloadResult, error)
	// Shutdown starts a graceful shutdown and returns at once.
	Shutdown()
	// Restart starts a graceful shutdown after which the server starts
	// again with the same configuration, and returns at once.
	Restart()
}

// ServerInfo is the body of GET /v1/admin/info.
type ServerInfo struct {
	Version    string            `json:"version"`
	GoVersion  string            `json:"go_version"`
	StartedAt  time.Time         `json:"started_at"`
	Uptime     string            `json:"uptime"`
	HardwareID string            `json:"hardware_id"`
	Hostname   string            `json:"hostname"`
	DataDir    string            `json:"data_dir"`
	Config     map[string]string `json:"config"` // the effective configuration
}

// Setting is one runtime setting. Source is "runtime" when a value set
// through the API is in force, else "config".
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Change is one setting that changed.
type Change struct {
	Key string `json:"key"`
	Old string `json:"old"`
	New string `json:"new"`
}

// ReloadResult is the body of POST /v1/admin/reload: what changed live,
// and which changed keys take effect only after a restart.
type ReloadResult struct {
	Applied         []Change `json:"applied"`
	RestartRequired []Change `json:"restart_required"`
}

// SettingsRequest is the body of PUT or PATCH /v1/admin/settings: values
// to set, and keys to reset to the configuration's value.
type SettingsRequest struct {
	Set   map[string]string `json:"set,omitempty"`
	Reset []string          `json:"reset,omitempty"`
}

// SettingsResponse is the body of the settings endpoints.
type SettingsResponse struct {
	Settings []Setting `json:"settings"`
	Changed  []Change  `json:"changed,omitempty"`
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
	writeJSON(w, http.StatusOK, SettingsResponse{Settings: s.adm.Settings()})
}

func (s *Server) handleSetSettings(w http.ResponseWriter, r *http.Request) {
	var req SettingsRequest
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
	writeJSON(w, http.StatusOK, SettingsResponse{Settings: s.adm.Settings(), Changed: changed})
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
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "shutting down"})
	s.adm.Shutdown()
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "restarting"})
	s.adm.Restart()
}
