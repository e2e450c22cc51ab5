package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// writeError writes err as the JSON error body of internal/wire. Internal
// errors are logged with their detail and reach the client only as a
// generic message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	body := wire.ErrorBodyOf(err)
	if body.Code == usher.EInternal {
		logger.Error("request failed", "method", r.Method, "path", usher.LogSafe(r.URL.Path), "err", err)
	}
	writeJSON(w, body.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError writes err as the API's JSON error body, for handlers that
// wrap a Server (such as the cluster's forwarding handler).
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	writeError(w, r, logger, err)
}
