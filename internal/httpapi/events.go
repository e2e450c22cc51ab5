package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/wire"
)

// streamKeepalive is how often an idle event stream sends a comment, so
// that proxies keep it open.
const streamKeepalive = 15 * time.Second

// obsRoutes registers the event, usage and metrics endpoints. All of them
// are read-only: they need the monitor role.
func (s *Server) obsRoutes() {
	if s.events != nil {
		s.mux.HandleFunc("GET /v1/events", s.monitor(s.handleEvents))
		s.mux.HandleFunc("GET /v1/events/stream", s.monitor(s.handleEventStream))
		s.mux.HandleFunc("GET /v1/usage", s.monitor(s.handleUsage))
		s.mux.HandleFunc("GET /v1/report", s.monitor(s.handleReport))
	}
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", s.monitor(s.metrics.ServeHTTP))
	}
}

// parseTime reads an RFC 3339 time, or a duration meaning that long ago.
func (s *Server) parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return s.now().Add(-d), nil
	}
	return time.Time{}, usher.Errorf(usher.EInvalid, "%s %q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (24h)", name, v)
}

// parsePeriod reads the from and to parameters of a report.
func (s *Server) parsePeriod(q url.Values) (from, to time.Time, err error) {
	if from, err = s.parseTime(q, "from"); err == nil {
		to, err = s.parseTime(q, "to")
	}
	return from, to, err
}

func parseFilter(s *Server, r *http.Request) (eventlog.Filter, error) {
	q := r.URL.Query()
	f := eventlog.Filter{Feature: q.Get("feature")}
	var err error
	if f.Since, err = s.parseTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = s.parseTime(q, "until"); err != nil {
		return f, err
	}
	if t := q.Get("type"); t != "" {
		f.Types = strings.Split(t, ",")
	}
	if f.Limit, err = intParam(q, "limit"); err != nil {
		return f, err
	}
	after, err := intParam(q, "after_id")
	f.AfterID = int64(after)
	if err != nil {
		return f, err
	}
	return f, f.Validate()
}

func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, usher.Errorf(usher.EInvalid, "%s %q is not a positive whole number", name, v)
	}
	return n, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(s, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.events.Sync(r.Context()); err != nil {
		s.error(w, r, err)
		return
	}
	recs, err := s.events.Query(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.EventsResponse{Events: wireEvents(recs)})
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("by") {
		s.handleUsageBy(w, r)
		return
	}
	uq := eventlog.UsageQuery{Feature: q.Get("feature"), Step: time.Minute}
	var err error
	uq.From, uq.To, err = s.parsePeriod(q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if v := q.Get("step"); v != "" {
		if uq.Step, err = time.ParseDuration(v); err != nil {
			s.error(w, r, usher.Errorf(usher.EInvalid, "step %q is not a duration: use a whole number of minutes, like \"1m\" or \"1h\"", v))
			return
		}
	}
	if err := s.events.Sync(r.Context()); err != nil {
		s.error(w, r, err)
		return
	}
	pts, err := s.events.Usage(r.Context(), uq)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.UsageResponse{Step: uq.Step.String(), Usage: wireUsage(pts)})
}

// handleEventStream streams events as Server-Sent Events. A client that
// reconnects with Last-Event-ID (or ?after_id=) first gets the stored
// events it missed. A client too slow to keep up gets a "dropped" event
// and the stream ends; it can reconnect to catch up.
func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(s, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if f.AfterID, err = strconv.ParseInt(id, 10, 64); err != nil {
			s.error(w, r, usher.Errorf(usher.EInvalid, "Last-Event-ID %q is not an event id", id))
			return
		}
	}
	sub := s.events.Subscribe(f, 0)
	defer sub.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	last, err := s.replay(w, r, f)
	if err != nil {
		s.logger.Warn("event stream replay", "err", err)
		return
	}
	if rc.Flush() != nil {
		return
	}
	s.stream(w, r, rc, sub, last)
}

// replay writes the stored events after f.AfterID and returns the last id.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, f eventlog.Filter) (int64, error) {
	if f.AfterID == 0 {
		return 0, nil
	}
	if err := s.events.Sync(r.Context()); err != nil {
		return 0, err
	}
	f.Since, f.Until, f.Limit = time.Time{}, time.Time{}, eventlog.MaxLimit
	recs, err := s.events.Query(r.Context(), f)
	if err != nil {
		return 0, err
	}
	last := f.AfterID
	for _, rec := range recs {
		if err := writeSSE(w, rec); err != nil {
			return 0, err
		}
		last = rec.ID
	}
	return last, nil
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, sub *eventlog.Subscription, last int64) {
	t := time.NewTicker(streamKeepalive)
	defer t.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case rec, ok := <-sub.Events():
			if !ok {
				if sub.Dropped() {
					fmt.Fprintf(w, "event: dropped\ndata: {\"message\":\"this stream fell too far behind and was ended: reconnect with Last-Event-ID %d to catch up\"}\n\n", last)
					rc.Flush()
				}
				return
			}
			if rec.ID <= last {
				continue // already replayed
			}
			last = rec.ID
			err = writeSSE(w, rec)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func writeSSE(w http.ResponseWriter, rec eventlog.Record) error {
	data, err := json.Marshal(wire.Event(rec))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", rec.ID, data)
	return err
}

// wireEvents returns stored events in their wire form.
func wireEvents(recs []eventlog.Record) []wire.Event {
	if recs == nil {
		return nil
	}
	out := make([]wire.Event, len(recs))
	for i, r := range recs {
		out[i] = wire.Event(r)
	}
	return out
}

// wireUsage returns usage points in their wire form.
func wireUsage(pts []eventlog.UsagePoint) []wire.UsagePoint {
	if pts == nil {
		return nil
	}
	out := make([]wire.UsagePoint, len(pts))
	for i, p := range pts {
		out[i] = wire.UsagePoint(p)
	}
	return out
}
