package eventlog

import (
	"cmp"
	"context"
	"slices"
	"time"

	usher "github.com/usher-lm/usher"
)

// ReportQuery selects a usage report. A zero To means now; a zero From,
// a day before To. Zone, default UTC, is the time zone of the busiest
// hours and days; ZoneName names it in the report.
type ReportQuery struct {
	Feature  string
	From, To time.Time
	Zone     *time.Location
	ZoneName string
}

// profileStep is the step of the usage history the busiest hours and
// days are counted from: fine enough for any time zone's offset.
const profileStep = 15 * time.Minute

// timelineSteps are the steps a report's timeline may take, the smallest
// that gives at most timelinePoints steps over the period.
var timelineSteps = []time.Duration{time.Minute, 5 * time.Minute, profileStep, time.Hour, 3 * time.Hour,
	6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

const timelinePoints = 120

// Report returns the usage report of a period. Peaks, checkouts,
// denials, the timeline and the busiest hours come from the usage
// history, kept per minute for usage_retention; queue waits, the capacity
// estimate and the users and hosts from the events, kept for
// event_retention, read page by page, so that memory does not grow with
// the period. Events still queued are not seen: call Sync first.
//
// Errors: EInvalid for a bad query.
func (l *Log) Report(ctx context.Context, q ReportQuery) (usher.UsageReport, error) {
	if q.To.IsZero() {
		q.To = l.now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-24 * time.Hour)
	}
	if !q.From.Before(q.To) {
		return usher.UsageReport{}, usher.Errorf(usher.EInvalid, "from must be before to")
	}
	if q.Zone == nil {
		q.Zone, q.ZoneName = time.UTC, "UTC"
	}
	r := usher.UsageReport{From: q.From.UTC(), To: q.To.UTC(), Zone: q.ZoneName}
	feats := newFeatureReports(l, q.Feature)
	if err := l.reportUsage(ctx, q, &r, feats); err != nil {
		return r, err
	}
	if err := l.reportEvents(ctx, q, &r, feats); err != nil {
		return r, err
	}
	r.Features = feats.sorted()
	return r, nil
}

// featureReports collects a report's features by name.
type featureReports map[string]*usher.FeatureReport

// newFeatureReports starts with the features licensed now, so that one
// nobody used shows too.
func newFeatureReports(l *Log, only string) featureReports {
	fs := featureReports{}
	if l.feats == nil {
		return fs
	}
	for _, f := range l.feats() {
		if only == "" || f.Name == only {
			fs[f.Name] = &usher.FeatureReport{Feature: f.Name, Seats: f.Seats, Unlimited: f.Unlimited, Timeline: []usher.UsageStep{}}
		}
	}
	return fs
}

func (fs featureReports) get(name string) *usher.FeatureReport {
	f := fs[name]
	if f == nil {
		f = &usher.FeatureReport{Feature: name, Timeline: []usher.UsageStep{}}
		fs[name] = f
	}
	return f
}

func (fs featureReports) sorted() []usher.FeatureReport {
	out := make([]usher.FeatureReport, 0, len(fs))
	for _, f := range fs {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b usher.FeatureReport) int { return cmp.Compare(a.Feature, b.Feature) })
	return out
}

// timelineStep returns the smallest step giving at most timelinePoints
// steps over d.
func timelineStep(d time.Duration) time.Duration {
	for _, s := range timelineSteps {
		if d <= s*timelinePoints {
			return s
		}
	}
	return timelineSteps[len(timelineSteps)-1]
}

// reportUsage fills in what the usage history tells: each feature's peak,
// checkouts, denials and timeline, and the busiest hours and days.
func (l *Log) reportUsage(ctx context.Context, q ReportQuery, r *usher.UsageReport, fs featureReports) error {
	step := timelineStep(q.To.Sub(q.From))
	r.Step = step.String()
	uq := UsageQuery{Feature: q.Feature, From: q.From, To: q.To, Step: step}
	pts, err := l.Usage(ctx, uq)
	if err != nil {
		return err
	}
	for _, p := range pts {
		f := fs.get(p.Feature)
		f.Peak = max(f.Peak, p.Peak)
		f.Checkouts += p.Checkouts
		f.Denials += p.Denials
		f.Timeline = append(f.Timeline, usher.UsageStep{Time: p.Time, Peak: p.Peak, Checkouts: p.Checkouts, Denials: p.Denials})
	}
	if step != profileStep {
		uq.Step = profileStep
		if pts, err = l.Usage(ctx, uq); err != nil {
			return err
		}
	}
	r.Hours, r.Weekdays = profile(pts, q.Zone)
	return nil
}

// profile adds up usage per hour of the day and per day of the week in
// zone.
func profile(pts []UsagePoint, zone *time.Location) (hours, days []usher.PeriodUsage) {
	hours, days = make([]usher.PeriodUsage, 24), make([]usher.PeriodUsage, 7)
	for i := range hours {
		hours[i].Period = i
	}
	for i := range days {
		days[i].Period = i
	}
	for _, p := range pts {
		t := p.Time.In(zone)
		for _, u := range []*usher.PeriodUsage{&hours[t.Hour()], &days[(int(t.Weekday())+6)%7]} {
			u.Peak = max(u.Peak, p.Peak)
			u.Checkouts += p.Checkouts
			u.Denials += p.Denials
		}
	}
	return hours, days
}

// reportEvents fills in what the events tell: each feature's seat-hours,
// queue waits and capacity estimate, and the users and hosts.
func (l *Log) reportEvents(ctx context.Context, q ReportQuery, r *usher.UsageReport, fs featureReports) error {
	first, err := l.backend.Query(ctx, Filter{Since: time.Unix(0, 1), Limit: 1})
	if err != nil {
		return err
	}
	if len(first) > 0 && first[0].Time.After(q.From) {
		t := first[0].Time.UTC()
		r.EventsFrom = &t
	}
	bq := UsageByQuery{Feature: q.Feature, From: q.From, To: q.To}
	users, hosts, byFeature := newTally(bq, ByUser), newTally(bq, ByHost), newTally(bq, ByFeature)
	replays := map[string]*usher.DemandReplay{}
	err = l.eachEvent(ctx, Filter{Since: q.From, Until: q.To, Types: usageByTypes, Feature: q.Feature}, func(ev usher.Event) {
		users.add(ev)
		hosts.add(ev)
		byFeature.add(ev)
		d := replays[ev.Feature]
		if d == nil {
			d = usher.NewDemandReplay()
			replays[ev.Feature] = d
		}
		d.Add(ev)
	})
	if err != nil {
		return err
	}
	r.Users, r.Hosts = users.result(), hosts.result()
	for _, t := range byFeature.result() {
		fs.get(t.Key).SeatHours = float64(t.HeldSeconds) / 3600
	}
	for name, d := range replays {
		f := fs.get(name)
		f.Capacity, f.Waits = d.Result()
	}
	return nil
}

// eachEvent calls fn with every event f selects, reading them page by
// page.
func (l *Log) eachEvent(ctx context.Context, f Filter, fn func(usher.Event)) error {
	f.Limit = MaxLimit
	for {
		recs, err := l.backend.Query(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			fn(r.Event)
		}
		if len(recs) < f.Limit {
			return nil
		}
		f.AfterID = recs[len(recs)-1].ID
	}
}
