package wire

import (
	"net/url"
	"strconv"
	"time"

	usher "github.com/usher-lm/usher"
)

// Paths of the event and usage endpoints.
const (
	PathEvents      = "/v1/events"
	PathEventStream = "/v1/events/stream"
	PathUsage       = "/v1/usage"
	PathReport      = "/v1/report"
)

// Event is one stored event as the API returns it: the event and its ID
// in the log, which increases with every event.
type Event struct {
	ID int64 `json:"id"`
	usher.Event
}

// EventsResponse is the body of GET /v1/events.
type EventsResponse struct {
	Events []Event `json:"events"`
}

// UsagePoint is one feature's use during one step of GET /v1/usage.
type UsagePoint struct {
	Feature   string    `json:"feature"`
	Time      time.Time `json:"time"`      // start of the step
	Peak      int       `json:"peak"`      // most seats in use at once
	Checkouts int       `json:"checkouts"` // leases granted
	Denials   int       `json:"denials"`   // checkouts refused
}

// UsageResponse is the body of GET /v1/usage.
type UsageResponse struct {
	Step  string       `json:"step"`
	Usage []UsagePoint `json:"usage"`
}

// EventsQuery selects events of GET /v1/events and /v1/events/stream.
// Times are RFC 3339 or a duration ago ("24h"); Type is a comma-separated
// list; AfterID returns only the events after that ID.
type EventsQuery struct {
	Since, Until, Type, Feature string
	Limit                       int
	AfterID                     int64
}

// Path returns base (PathEvents or PathEventStream) with the query.
func (q EventsQuery) Path(base string) string {
	v := url.Values{}
	setNonEmpty(v, map[string]string{"since": q.Since, "until": q.Until, "type": q.Type, "feature": q.Feature})
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.AfterID > 0 {
		v.Set("after_id", strconv.FormatInt(q.AfterID, 10))
	}
	return withQuery(base, v)
}

// UsageQuery selects the usage history of GET /v1/usage. Times are RFC
// 3339 or a duration ago; Step is a duration of whole minutes.
type UsageQuery struct {
	Feature, From, To, Step string
	// By, if set (user, host or feature), asks for the period's usage per
	// user, host or feature instead, answered as UsageByResponse; Step
	// does not apply then.
	By string
}

// Path returns the path of GET /v1/usage with the query.
func (q UsageQuery) Path() string {
	v := url.Values{}
	setNonEmpty(v, map[string]string{"feature": q.Feature, "from": q.From, "to": q.To, "step": q.Step, "by": q.By})
	return withQuery(PathUsage, v)
}

// UsageTotal is the usage of one user, host or feature over a period.
type UsageTotal = usher.UsageTotal

// UsageByResponse is the body of GET /v1/usage?by=user|host|feature: the
// period's usage per user, host or feature, most time held first.
type UsageByResponse struct {
	By     string       `json:"by"`
	From   *time.Time   `json:"from,omitempty"` // absent: since the log began
	To     time.Time    `json:"to"`
	Totals []UsageTotal `json:"totals"`
}

func setNonEmpty(v url.Values, m map[string]string) {
	for k, s := range m {
		if s != "" {
			v.Set(k, s)
		}
	}
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// ReportQuery selects the usage report of GET /v1/report. Times are RFC
// 3339 or a duration ago; Zone is an IANA time zone name or a UTC offset
// ("+01:00") for the busiest hours and days, default UTC.
type ReportQuery struct {
	Feature, From, To, Zone string
}

// Path returns the path of GET /v1/report with the query.
func (q ReportQuery) Path() string {
	v := url.Values{}
	setNonEmpty(v, map[string]string{"feature": q.Feature, "from": q.From, "to": q.To, "tz": q.Zone})
	return withQuery(PathReport, v)
}

// ReportResponse is the body of GET /v1/report.
type ReportResponse = usher.UsageReport

// ParseZone reads the tz of a ReportQuery: an IANA time zone name
// (Europe/Paris), or a UTC offset (+01:00, -0530); empty is UTC. It
// returns the zone and its name.
//
// Errors: EInvalid for anything else.
func ParseZone(v string) (*time.Location, string, error) {
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
	if err != nil || v == "Local" {
		return nil, "", usher.Errorf(usher.EInvalid, "tz %q is neither a time zone name (Europe/Paris) nor a UTC offset (+01:00)", v)
	}
	return loc, v, nil
}
