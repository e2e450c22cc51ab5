package httpapi

import (
	"net/http"

	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/wire"
)

// handleReport answers GET /v1/report: the usage report of a period.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rq := eventlog.ReportQuery{Feature: q.Get("feature")}
	var err error
	rq.From, rq.To, err = s.parsePeriod(q)
	if err == nil {
		rq.Zone, rq.ZoneName, err = wire.ParseZone(q.Get("tz"))
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.events.Sync(r.Context()); err != nil {
		s.error(w, r, err)
		return
	}
	rep, err := s.events.Report(r.Context(), rq)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
