package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
)

// serveLogged serves r and logs, at debug level, what an operator needs to
// follow it: the method, the route pattern that served it, the status and
// the duration.
func (s *Server) serveLogged(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusRecorder{ResponseWriter: w}
	s.serve(rw, r)
	if rw.status == 0 {
		rw.status = http.StatusOK // the handler wrote nothing
	}
	route := r.Pattern
	if route == "" {
		route = "none" // answered before routing: rate limited
	}
	s.logger.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", usher.LogSafe(r.Method)), slog.String("route", route),
		slog.Int("status", rw.status), slog.Duration("duration", time.Since(start)))
}

// statusRecorder records the status of an answer. Unwrap lets
// http.ResponseController reach Flush for event streams.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
