package usher

import (
	"context"
	"sort"
	"strconv"
	"time"
)

// EConsumptionExhausted refuses a consumption that would spend more units
// of a metered feature than its period allows, overage included.
const EConsumptionExhausted = "consumption_exhausted"

// ErrConsumptionExhausted matches any error with code EConsumptionExhausted.
var ErrConsumptionExhausted = &Error{Code: EConsumptionExhausted}

// Event types of metered features.
const (
	EventConsumptionRecorded = "consumption_recorded"
	EventConsumptionDenied   = "consumption_denied"
)

// maxConsumeAmount bounds one consumption, so that sums cannot overflow.
const maxConsumeAmount = 1 << 40

// Consumption is one accepted spend of units of a metered feature, as
// stored.
type Consumption struct {
	ID        string    `json:"id"`
	RequestID string    `json:"request_id,omitempty"` // the client's idempotency id, if it sent one
	Feature   string    `json:"feature"`
	Client    Client    `json:"client"`
	Amount    int64     `json:"amount"`
	At        time.Time `json:"at"`
}

// ConsumeRequest asks to spend Amount units of a metered feature. A
// request with an ID is counted once however often it is retried, as long
// as the period it was counted in or the one after it lasts.
type ConsumeRequest struct {
	Feature string
	Amount  int64
	Client  Client
	ID      string
}

// Validate returns an EInvalid error for a malformed request.
func (r ConsumeRequest) Validate() error {
	if err := ValidateFeatureName(r.Feature); err != nil {
		return err
	}
	if r.Amount <= 0 || r.Amount > maxConsumeAmount {
		return Errorf(EInvalid, "amount must be a whole number between 1 and %d", int64(maxConsumeAmount))
	}
	if len(r.ID) > 128 {
		return Errorf(EInvalid, "id must be at most 128 bytes: use a UUID or similar")
	}
	return r.Client.Validate()
}

// ConsumeResult is a metered feature's counter right after a consumption.
// Remaining counts the units left before overage begins.
type ConsumeResult struct {
	Feature      string     `json:"feature"`
	Used         int64      `json:"used"`
	Remaining    int64      `json:"remaining"`
	PeriodEndsAt *time.Time `json:"period_ends_at"` // null for period none
}

// ConsumptionStatus is the counter of a metered feature, in FeatureStatus.
type ConsumptionStatus struct {
	Limit            int64      `json:"limit"`
	Overage          int64      `json:"overage"`
	OverageUnlimited bool       `json:"overage_unlimited"`
	Period           string     `json:"period"`
	Used             int64      `json:"used"`
	Remaining        int64      `json:"remaining"`
	PeriodEndsAt     *time.Time `json:"period_ends_at"`
}

// meter is the counter of one metered feature, guarded by the ledger's lock.
type meter struct {
	period     string
	start, end time.Time   // the current period; zero for period none
	used       int64       // spent in the current period, writes under way included
	log        []*consumed // the current and the previous period, oldest first
	byReq      map[reqKey]*consumed
}

type reqKey struct{ client, id string }

// consumed is one consumption the meter counts.
type consumed struct {
	rec  Consumption
	done chan struct{} // closed once the write ended; nil once stored
	err  error         // set before done closes if the write failed
}

// meterLimit is what the active metered grants of a feature allow.
type meterLimit struct {
	units, overage int64
	unlimited      bool
	period         string
}

func (m meterLimit) allows(used int64) bool {
	return m.unlimited || used <= m.units+m.overage
}

// Consume spends units of a metered feature for a client, durably, and
// returns the counter after it. Over the limit plus overage it counts
// nothing. A request whose ID was counted already returns the counter
// without counting again.
//
// Errors: EInvalid, EFeatureNotFound (also for a feature that is not
// metered), EFeatureNotStarted, EFeatureExpired, ELicenseInUseElsewhere,
// EBanned, EConsumptionExhausted, or a store failure.
func (l *Ledger) Consume(ctx context.Context, req ConsumeRequest) (ConsumeResult, error) {
	if err := req.Validate(); err != nil {
		return ConsumeResult{}, err
	}
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		now := l.now()
		m, lim, err := l.meterLocked(req, now)
		if err != nil {
			l.mu.Unlock()
			l.emitConsumeDenied(req, err)
			return ConsumeResult{}, err
		}
		if c := m.byReq[reqKey{req.Client.ID, req.ID}]; req.ID != "" && c != nil {
			done := c.done
			l.mu.Unlock()
			if done != nil {
				<-done
			}
			if c.err != nil && attempt < 3 {
				continue // that write failed and was taken back: count this one
			}
			return l.consumeResult(req.Feature, c.err)
		}
		if !lim.allows(m.used + req.Amount) {
			l.mu.Unlock()
			err := exhausted(req, m, lim)
			l.emitConsumeDenied(req, err)
			return ConsumeResult{}, err
		}
		c := m.addLocked(Consumption{ID: "cs_" + randomHex(10), RequestID: req.ID, Feature: req.Feature, Client: req.Client, Amount: req.Amount, At: now})
		l.mu.Unlock()
		return l.storeConsumption(ctx, m, c)
	}
}

// storeConsumption makes c durable, or takes it back, and answers.
func (l *Ledger) storeConsumption(ctx context.Context, m *meter, c *consumed) (ConsumeResult, error) {
	err := l.store.PutConsumption(context.WithoutCancel(ctx), c.rec)
	l.mu.Lock()
	if err != nil {
		c.err = err
		m.removeLocked(c)
	}
	close(c.done)
	c.done = nil
	l.mu.Unlock()
	if err != nil {
		l.logger.Error("consumption not stored", "feature", LogSafe(c.rec.Feature), "err", err)
		return ConsumeResult{}, err
	}
	l.emit(Event{Type: EventConsumptionRecorded, Feature: c.rec.Feature, Client: c.rec.Client, Time: c.rec.At, Reason: strconv.FormatInt(c.rec.Amount, 10) + " units"})
	return l.consumeResult(c.rec.Feature, nil)
}

func (l *Ledger) emitConsumeDenied(req ConsumeRequest, err error) {
	if code := ErrorCode(err); code == EConsumptionExhausted || code == EFeatureExpired || code == EFeatureNotStarted {
		l.emit(Event{Type: EventConsumptionDenied, Feature: req.Feature, Client: req.Client, Reason: code})
	}
}

func exhausted(req ConsumeRequest, m *meter, lim meterLimit) error {
	left := max(lim.units+lim.overage-m.used, 0)
	until := "for good (its period is none)"
	if !m.end.IsZero() {
		until = "until " + formatTime(m.end)
	}
	return Errorf(EConsumptionExhausted, "feature %s has %d of %d units left, overage included, %s: %d asked, nothing was counted; ask your vendor for more units",
		req.Feature, left, lim.units+lim.overage, until, req.Amount)
}

// consumeResult reads a feature's counter.
func (l *Ledger) consumeResult(feature string, err error) (ConsumeResult, error) {
	if err != nil {
		return ConsumeResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.consumptionStatusLocked(feature, l.now())
	if st == nil {
		return ConsumeResult{Feature: feature}, nil
	}
	return ConsumeResult{Feature: feature, Used: st.Used, Remaining: st.Remaining, PeriodEndsAt: st.PeriodEndsAt}, nil
}

// meterLocked returns the counter of req's feature in the period of now,
// and what it may reach.
func (l *Ledger) meterLocked(req ConsumeRequest, now time.Time) (*meter, meterLimit, error) {
	p := l.pools[req.Feature]
	if p == nil || len(p.grants) == 0 {
		return nil, meterLimit{}, Errorf(EFeatureNotFound, "feature %s is not licensed on this server: check the name, or add a license that grants it", req.Feature)
	}
	if err := l.bannedLocked(req.Feature, req.Client, now); err != nil {
		return nil, meterLimit{}, err
	}
	if _, _, err := p.capacity(now, req.Feature); err != nil {
		return nil, meterLimit{}, err
	}
	lim, ok := p.meterLimit(now)
	if !ok {
		return nil, meterLimit{}, Errorf(EFeatureNotFound, "feature %s is not metered: check it out instead, or ask your vendor for a license with consumption=N", req.Feature)
	}
	return l.meterOfLocked(req.Feature, lim.period, now), lim, nil
}

// meterOfLocked returns a feature's counter rolled to the period of now.
func (l *Ledger) meterOfLocked(feature, period string, now time.Time) *meter {
	if l.meters == nil {
		l.meters = make(map[string]*meter)
	}
	m := l.meters[feature]
	if m == nil {
		m = &meter{byReq: make(map[reqKey]*consumed)}
		l.meters[feature] = m
	}
	m.roll(period, now)
	return m
}

// meterLimit sums the metered grants that serve at now.
func (p *pool) meterLimit(now time.Time) (meterLimit, bool) {
	grants := p.grants
	if p.gate != nil || p.hw != nil {
		var err error
		if grants, err = p.servable(p.name); err != nil {
			return meterLimit{}, false
		}
	}
	var lim meterLimit
	found := false
	for _, g := range grants {
		if !g.Meter.Metered() || !g.ActiveAt(now) {
			continue
		}
		if !found || periodRank(g.Meter.Period) < periodRank(lim.period) {
			lim.period = g.Meter.Period // grants that disagree count in the shortest period
		}
		found = true
		lim.units += g.Meter.Consumption
		lim.overage += g.Meter.Overage
		lim.unlimited = lim.unlimited || g.Meter.OverageUnlimited
	}
	return lim, found
}

func periodRank(p string) int {
	switch p {
	case PeriodDay:
		return 0
	case PeriodMonth:
		return 1
	case PeriodYear:
		return 2
	}
	return 3
}

// periodBounds returns the calendar period of now, in UTC: zero times for
// period none.
func periodBounds(period string, now time.Time) (start, end time.Time) {
	y, mo, d := now.UTC().Date()
	switch period {
	case PeriodDay:
		start = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PeriodMonth:
		start = time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	case PeriodYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0)
	}
	return time.Time{}, time.Time{}
}

// roll moves the counter to the period of now, counting again what it
// holds of that period.
func (m *meter) roll(period string, now time.Time) {
	start, end := periodBounds(period, now)
	if start.Equal(m.start) && end.Equal(m.end) {
		return
	}
	m.period, m.start, m.end, m.used = period, start, end, 0
	for _, c := range m.log {
		if m.inPeriod(c.rec.At) {
			m.used += c.rec.Amount
		}
	}
}

func (m *meter) inPeriod(t time.Time) bool {
	return m.start.IsZero() || (!t.Before(m.start) && t.Before(m.end))
}

func (m *meter) addLocked(rec Consumption) *consumed {
	c := &consumed{rec: rec, done: make(chan struct{})}
	m.log = append(m.log, c)
	if rec.RequestID != "" {
		m.byReq[reqKey{rec.Client.ID, rec.RequestID}] = c
	}
	m.used += rec.Amount
	return c
}

func (m *meter) removeLocked(c *consumed) {
	for i, x := range m.log {
		if x == c {
			m.log = append(m.log[:i], m.log[i+1:]...)
			break
		}
	}
	if k := (reqKey{c.rec.Client.ID, c.rec.RequestID}); m.byReq[k] == c {
		delete(m.byReq, k)
	}
	if m.inPeriod(c.rec.At) {
		m.used -= c.rec.Amount
	}
}

// consumptionStatusLocked returns the counter of a metered feature, or nil
// for one that is not metered at now.
func (l *Ledger) consumptionStatusLocked(feature string, now time.Time) *ConsumptionStatus {
	p := l.pools[feature]
	if p == nil {
		return nil
	}
	lim, ok := p.meterLimit(now)
	if !ok {
		return nil
	}
	m := l.meterOfLocked(feature, lim.period, now)
	st := &ConsumptionStatus{Limit: lim.units, Overage: lim.overage, OverageUnlimited: lim.unlimited, Period: lim.period,
		Used: m.used, Remaining: max(lim.units-m.used, 0)}
	if !m.end.IsZero() {
		end := m.end
		st.PeriodEndsAt = &end
	}
	return st
}

// restoreConsumptions counts the stored consumptions again.
func (l *Ledger) restoreConsumptions(recs []Consumption) {
	sort.Slice(recs, func(i, j int) bool { return recs[i].At.Before(recs[j].At) })
	for _, rec := range recs {
		m := l.meterOfLocked(rec.Feature, PeriodNone, time.Time{})
		c := m.addLocked(rec)
		c.done = nil
	}
}

// pruneConsumptions forgets the consumptions older than the period before
// the current one: their ids are kept that long for retries.
func (l *Ledger) pruneConsumptions(ctx context.Context) {
	l.mu.Lock()
	var ids []string
	for _, m := range l.meters {
		if m.start.IsZero() {
			continue // period none keeps every consumption
		}
		prevStart, _ := periodBounds(m.period, m.start.Add(-time.Nanosecond))
		ids = append(ids, m.dropBeforeLocked(prevStart)...)
	}
	l.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if err := l.store.DeleteConsumptions(context.WithoutCancel(ctx), ids); err != nil {
		l.logger.Warn("old consumptions not deleted from the store: they are deleted after the next restart", "err", err)
	}
}

// dropBeforeLocked forgets the stored consumptions before t, which are
// outside the current period, and returns their IDs. The log is in time
// order, so they are a prefix of it.
func (m *meter) dropBeforeLocked(t time.Time) []string {
	k := 0
	for k < len(m.log) && m.log[k].done == nil && m.log[k].rec.At.Before(t) {
		k++
	}
	if k == 0 {
		return nil
	}
	ids := make([]string, k)
	for i, c := range m.log[:k] {
		ids[i] = c.rec.ID
		if key := (reqKey{c.rec.Client.ID, c.rec.RequestID}); m.byReq[key] == c {
			delete(m.byReq, key)
		}
	}
	m.log = append([]*consumed(nil), m.log[k:]...) // let the dropped ones go
	return ids
}

// ClientConsumption is what one client spent of a metered feature in the
// feature's current period.
type ClientConsumption struct {
	Feature        string     `json:"feature"`
	Client         Client     `json:"client"` // as its latest consumption gave it
	Used           int64      `json:"used"`
	Consumptions   int        `json:"consumptions"`
	PeriodStartsAt *time.Time `json:"period_starts_at"` // null for period none
	PeriodEndsAt   *time.Time `json:"period_ends_at"`
}

// ConsumptionReport returns, per metered feature and client, the units
// spent in the current period, sorted by feature and client ID.
func (l *Ledger) ConsumptionReport() []ClientConsumption {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var out []ClientConsumption
	for _, f := range sortedKeys(l.pools) {
		lim, ok := l.pools[f].meterLimit(now)
		if !ok {
			continue
		}
		out = append(out, l.meterOfLocked(f, lim.period, now).report(f)...)
	}
	return out
}

func (m *meter) report(feature string) []ClientConsumption {
	by := make(map[string]*ClientConsumption)
	for _, c := range m.log {
		if !m.inPeriod(c.rec.At) {
			continue
		}
		r := by[c.rec.Client.ID]
		if r == nil {
			r = &ClientConsumption{Feature: feature}
			if !m.start.IsZero() {
				start, end := m.start, m.end
				r.PeriodStartsAt, r.PeriodEndsAt = &start, &end
			}
			by[c.rec.Client.ID] = r
		}
		r.Client = c.rec.Client
		r.Used += c.rec.Amount
		r.Consumptions++
	}
	out := make([]ClientConsumption, 0, len(by))
	for _, id := range sortedKeys(by) {
		out = append(out, *by[id])
	}
	return out
}
