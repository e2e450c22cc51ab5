package httpapi

import (
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// handleReport answers GET /v1/report: the usage report of a period.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rq := eventlog.ReportQuery{Feature: q.Get("feature")}
	var err error
	if rq.From, err = s.parseTime(q, "from"); err == nil {
		rq.To, err = s.parseTime(q, "to")
	}
	if err == nil {
		rq.Zone, rq.ZoneName, err = parseZone(q.Get("tz"))
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

// parseZone reads a time zone: an IANA name (Europe/Paris), or a UTC
// offset (+01:00, -0530); empty is UTC.
func parseZone(v string) (*time.Location, string, error) {
	if v == "" {
		return time.UTC, "UTC", nil
	}
	for _, layout := range []string{"-07:00", "-0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			_, off := t.Zone()
			return time.FixedZone(v, off), v, nil
		}
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return nil, "", usher.Errorf(usher.EInvalid, "tz %q is neither a time zone name (Europe/Paris) nor a UTC offset (+01:00)", v)
	}
	return loc, v, nil
}
