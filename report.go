package usher

import (
	"slices"
	"sort"
	"time"
)

// UsageReport summarises how the licensed features were used over a
// period: what an admin reads to decide whether there are too many seats
// or too few.
type UsageReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Zone is the time zone of Hours and Weekdays, as asked for: an IANA
	// name or a fixed offset like "+01:00".
	Zone string `json:"zone"`
	// EventsFrom is set when the event log begins after From: the
	// sections read from events (waits, capacity, users, hosts) start
	// there, since older events were pruned (event_retention).
	EventsFrom *time.Time `json:"events_from,omitempty"`
	// Step is the width of each feature's Timeline.
	Step     string          `json:"step"`
	Features []FeatureReport `json:"features"`
	Hours    []PeriodUsage   `json:"hours"`    // 24 rows: the hours of the day, 0 to 23
	Weekdays []PeriodUsage   `json:"weekdays"` // 7 rows: Monday to Sunday
	Users    []UsageTotal    `json:"users"`    // most time held first
	Hosts    []UsageTotal    `json:"hosts"`    // most time held first
}

// FeatureReport is one feature's use over a report's period.
type FeatureReport struct {
	Feature   string `json:"feature"`
	Seats     int    `json:"seats"` // licensed now; see Unlimited
	Unlimited bool   `json:"unlimited,omitempty"`
	Peak      int    `json:"peak"`      // most seats in use at once
	Checkouts int    `json:"checkouts"` // leases granted
	Denials   int    `json:"denials"`   // checkouts refused, for any reason
	// SeatHours adds up the time its leases were held in the period.
	SeatHours float64          `json:"seat_hours"`
	Waits     QueueWaits       `json:"waits"`
	Capacity  CapacityEstimate `json:"capacity"`
	// Timeline is the feature's use step by step: peak in use, checkouts
	// and denials per Step. Steps without any are left out.
	Timeline []UsageStep `json:"timeline"`
}

// UsageStep is a feature's use over one step of time.
type UsageStep struct {
	Time      time.Time `json:"time"` // start of the step
	Peak      int       `json:"peak"`
	Checkouts int       `json:"checkouts"`
	Denials   int       `json:"denials"`
}

// PeriodUsage is the use of every feature of a report in one hour of the
// day or one day of the week, over all such hours or days of the period.
type PeriodUsage struct {
	Period    int `json:"period"`    // the hour (0-23), or the day (0 Monday … 6 Sunday)
	Peak      int `json:"peak"`      // the most seats of one feature in use at once
	Checkouts int `json:"checkouts"` // leases granted
	Denials   int `json:"denials"`   // checkouts refused
}

// UsageTotal is the usage of one user, host or feature over a period.
type UsageTotal struct {
	Key       string `json:"key"`       // the user, host or feature; "" when checkouts named none
	Checkouts int    `json:"checkouts"` // leases granted
	Denials   int    `json:"denials"`   // checkouts refused
	Kicks     int    `json:"kicks"`     // leases an admin ended
	// HeldSeconds adds up how long its leases were held within the
	// period; a lease still held counts up to the period's end.
	HeldSeconds int64 `json:"held_seconds"`
}

// QueueWaits describes the checkouts that waited in line for a seat.
type QueueWaits struct {
	Granted int   `json:"granted"` // waited, then got a seat
	GaveUp  int   `json:"gave_up"` // waited until their wait ran out, then were refused
	P50MS   int64 `json:"p50_ms"`  // median wait of those granted, in milliseconds
	P95MS   int64 `json:"p95_ms"`
	MaxMS   int64 `json:"max_ms"`
}

// CapacityEstimate is the capacity estimate of a feature: see DemandReplay.
type CapacityEstimate struct {
	Requests  int `json:"requests"`   // checkouts granted, queued or refused for want of a seat
	MaxDemand int `json:"max_demand"` // the largest demand any of them met
	// Seats is the smallest number of seats that would have served
	// CapacityQuantile of the requests at once: without a wait or a
	// denial. 0 when there were no requests.
	Seats int `json:"seats"`
}

// CapacityQuantile is the share of requests a capacity estimate serves.
const CapacityQuantile = 0.99

// WaitStats returns the queue waits of a feature from the waits of the
// checkouts granted after waiting (milliseconds, in any order; sorted in
// place) and how many gave up.
func WaitStats(waits []int64, gaveUp int) QueueWaits {
	q := QueueWaits{Granted: len(waits), GaveUp: gaveUp}
	if len(waits) == 0 {
		return q
	}
	slices.Sort(waits)
	q.P50MS, q.P95MS, q.MaxMS = nearestRank(waits, 0.50), nearestRank(waits, 0.95), waits[len(waits)-1]
	return q
}

// nearestRank is the p-quantile of sorted by the nearest-rank method: the
// smallest value at or above which at least p of the values are.
func nearestRank(sorted []int64, p float64) int64 {
	i := ceilIndex(len(sorted), p)
	return sorted[i]
}

// ceilIndex is the 0-based index of the nearest-rank p-quantile of n.
func ceilIndex(n int, p float64) int {
	r := int(float64(n)*p + 0.999999999)
	return min(max(r, 1), n) - 1
}

// DemandReplay computes a feature's capacity estimate by replaying its
// lease and checkout events in the order they were stored.
//
// Every checkout request meets a demand: the seats held when it arrived,
// plus the checkouts waiting in line then, plus itself if it did not get a
// seat at once. A request is a lease granted (at once, or after waiting
// WaitedMS in line: it arrived that long before its grant), or a checkout
// refused with no_seats_available (at once, or after waiting in line). A
// refused request counts at the moment it arrived only: how long it would
// have held a seat is not known. Leases granted before the period and
// ended in it count as held from the period's start. The capacity
// estimate is the smallest seat count N such that at least 99% of the
// requests met a demand of at most N: with N seats, they would have been
// served at once.
//
// Memory is bounded by the requests of the last MaxWait (a request's
// arrival is at most that far before its event) and the leases held at
// once, not by the period; only the waits kept for their percentiles
// grow with it, 8 bytes per checkout that waited.
type DemandReplay struct {
	held    int             // leases granted in the replay and held now
	preEnds int             // leases granted before the replay that ended so far
	open    map[string]bool // lease ids granted in the replay and held now
	window  []demandPoint   // the last MaxWait of state, by time
	lines   []waitSpan      // waits in line that ended within the window
	lastEnd time.Time       // the latest end of those waits
	floor   demandPoint     // the state before the window
	now     time.Time       // the latest event's time
	hist    map[[2]int]int  // (held+extra, preEnds) of finished requests: how many
	waits   []int64         // of the checkouts granted after waiting
	gaveUp  int             // checkouts refused after waiting
}

// demandPoint is the state at one moment: for a request, the demand it met
// but for leases granted before the replay and still held.
type demandPoint struct {
	t       time.Time
	held    int
	preEnds int
	extra   int  // itself if not served at once, and the waiters in line
	request bool // else only a record of held and preEnds
}

type waitSpan struct{ from, to time.Time }

// NewDemandReplay returns an empty replay.
func NewDemandReplay() *DemandReplay {
	return &DemandReplay{open: map[string]bool{}, hist: map[[2]int]int{}}
}

// Add replays one event of the feature; others are ignored. Events must
// come in the order they were stored.
func (d *DemandReplay) Add(ev Event) {
	waited := time.Duration(ev.WaitedMS) * time.Millisecond
	switch ev.Type {
	case EventLeaseGranted:
		d.advance(ev.Time)
		d.open[ev.LeaseID] = true
		d.held++
		if waited > 0 {
			d.waits = append(d.waits, ev.WaitedMS)
			d.waitedInLine(ev.Time.Add(-waited), ev.Time)
			d.record(demandPoint{t: ev.Time})
			return
		}
		d.record(demandPoint{t: ev.Time, request: true, extra: d.waitingAt(ev.Time)})
	case EventLeaseReleased, EventLeaseExpired, EventLeaseKicked:
		if ev.Reason == ReasonLingering {
			return // its seat is held until the linger ends
		}
		d.advance(ev.Time)
		if d.open[ev.LeaseID] {
			delete(d.open, ev.LeaseID)
			d.held--
		} else {
			d.preEnds++
		}
		d.record(demandPoint{t: ev.Time})
	case EventCheckoutDenied:
		if ev.Reason != string(ENoSeats) {
			return // refused for another reason than capacity
		}
		d.advance(ev.Time)
		if waited > 0 {
			d.gaveUp++
			d.waitedInLine(ev.Time.Add(-waited), ev.Time)
			return
		}
		d.record(demandPoint{t: ev.Time, request: true, extra: 1 + d.waitingAt(ev.Time)})
	}
}

// record appends the state now, with p's time, request and extra.
func (d *DemandReplay) record(p demandPoint) {
	p.held, p.preEnds = d.held, d.preEnds
	d.window = append(d.window, p)
}

// waitedInLine replays a checkout that waited in line from arrived to
// left: a request at its arrival, and one more waiter for every request
// that arrived while it waited.
func (d *DemandReplay) waitedInLine(arrived, left time.Time) {
	if lo := d.now.Add(-MaxWait); arrived.Before(lo) {
		arrived = lo // a clock step: no request is kept from before
	}
	i := sort.Search(len(d.window), func(i int) bool { return d.window[i].t.After(arrived) })
	at := d.floor
	if i > 0 {
		at = d.window[i-1]
	}
	p := demandPoint{t: arrived, held: at.held, preEnds: at.preEnds, request: true, extra: 1 + d.waitingAt(arrived)}
	for j := i; j < len(d.window) && d.window[j].t.Before(left); j++ {
		if w := &d.window[j]; w.request {
			w.extra++
		}
	}
	d.window = slices.Insert(d.window, i, p)
	d.lines = append(d.lines, waitSpan{arrived, left})
	if left.After(d.lastEnd) {
		d.lastEnd = left
	}
}

// waitingAt counts the waits replayed so far that span t.
func (d *DemandReplay) waitingAt(t time.Time) int {
	if !d.lastEnd.After(t) {
		return 0 // the usual case: every wait replayed ended before t
	}
	n := 0
	for _, s := range d.lines {
		if !s.from.After(t) && s.to.After(t) {
			n++
		}
	}
	return n
}

// advance moves the replay's clock to t, finishing the requests older
// than MaxWait: no event to come can change their demand.
func (d *DemandReplay) advance(t time.Time) {
	if t.After(d.now) {
		d.now = t
	}
	lo := d.now.Add(-MaxWait)
	n := 0
	for n < len(d.window) && d.window[n].t.Before(lo) {
		d.finish(d.window[n])
		n++
	}
	if n > 0 {
		d.window = d.window[n:] // the array is reused once append outgrows it
	}
	if len(d.lines) > 0 && d.lines[0].to.Before(lo) {
		d.lines = slices.DeleteFunc(d.lines, func(s waitSpan) bool { return s.to.Before(lo) })
	}
}

func (d *DemandReplay) finish(p demandPoint) {
	if p.request {
		d.hist[[2]int{p.held + p.extra, p.preEnds}]++
	}
	d.floor = p
}

// Result returns the capacity estimate and the queue waits of the
// events replayed. It finishes the replay.
func (d *DemandReplay) Result() (CapacityEstimate, QueueWaits) {
	for _, p := range d.window {
		d.finish(p)
	}
	d.window = nil
	type level struct{ demand, n int }
	var levels []level
	c := CapacityEstimate{}
	for k, n := range d.hist {
		// Leases from before the replay still held at the request.
		demand := k[0] + d.preEnds - k[1]
		levels = append(levels, level{demand, n})
		c.Requests += n
		c.MaxDemand = max(c.MaxDemand, demand)
	}
	slices.SortFunc(levels, func(a, b level) int { return a.demand - b.demand })
	need, seen := ceilIndex(c.Requests, CapacityQuantile)+1, 0
	for _, l := range levels {
		if seen += l.n; seen >= need {
			c.Seats = l.demand
			break
		}
	}
	return c, WaitStats(d.waits, d.gaveUp)
}
