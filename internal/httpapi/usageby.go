package httpapi

import (
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/wire"
)

func (s *Server) handleUsageBy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uq := eventlog.UsageByQuery{By: q.Get("by"), Feature: q.Get("feature")}
	if q.Has("step") {
		s.error(w, r, usher.Errorf(usher.EInvalid, "step does not apply to a report by %s: leave it out, or leave out by for usage over time", uq.By))
		return
	}
	var err error
	uq.From, uq.To, err = s.parsePeriod(q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if uq.To.IsZero() {
		uq.To = s.now()
	}
	if err := s.events.Sync(r.Context()); err != nil {
		s.error(w, r, err)
		return
	}
	totals, err := s.events.UsageBy(r.Context(), uq)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := wire.UsageByResponse{By: uq.By, To: uq.To.UTC(), Totals: make([]wire.UsageTotal, len(totals))}
	for i, t := range totals {
		out.Totals[i] = wire.UsageTotal(t)
	}
	if !uq.From.IsZero() {
		from := uq.From.UTC()
		out.From = &from
	}
	writeJSON(w, http.StatusOK, out)
}
