package httpapi

import (
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// UsageByResponse is the body of GET /v1/usage?by=user|host|feature: the
// period's usage per user, host or feature.
type UsageByResponse struct {
	By     string                `json:"by"`
	From   *time.Time            `json:"from,omitempty"` // absent: since the log began
	To     time.Time             `json:"to"`
	Totals []eventlog.UsageTotal `json:"totals"`
}

func (s *Server) handleUsageBy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uq := eventlog.UsageByQuery{By: q.Get("by"), Feature: q.Get("feature")}
	if q.Has("step") {
		s.error(w, r, usher.Errorf(usher.EInvalid, "step does not apply to a report by %s: leave it out, or leave out by for usage over time", uq.By))
		return
	}
	var err error
	if uq.From, err = s.parseTime(q, "from"); err == nil {
		uq.To, err = s.parseTime(q, "to")
	}
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
	out := UsageByResponse{By: uq.By, To: uq.To.UTC(), Totals: totals}
	if !uq.From.IsZero() {
		from := uq.From.UTC()
		out.From = &from
	}
	writeJSON(w, http.StatusOK, out)
}
