package usher_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// meter is the part of memStore that keeps consumptions and license
// states.
type meter struct {
	consumptions map[string]usher.Consumption
	states       map[string]usher.LicenseState
}

func (m *memStore) PutConsumption(_ context.Context, c usher.Consumption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.consumptions == nil {
		m.consumptions = make(map[string]usher.Consumption)
	}
	m.consumptions[c.ID] = c
	return nil
}

func (m *memStore) DeleteConsumptions(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, id := range ids {
		delete(m.consumptions, id)
	}
	return nil
}

func (m *memStore) PutLicenseState(_ context.Context, st usher.LicenseState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.states == nil {
		m.states = make(map[string]usher.LicenseState)
	}
	m.states[st.ID] = st
	return nil
}

// loadMeter adds the consumptions and states to snap; m.mu is held.
func (m *memStore) loadMeter(snap *usher.Snapshot) {
	for _, c := range m.consumptions {
		snap.Consumptions = append(snap.Consumptions, c)
	}
	for _, st := range m.states {
		snap.LicenseStates = append(snap.LicenseStates, st)
	}
}

func metered(feature string, seats int, units int64, period string) usher.Grant {
	return usher.Grant{Feature: feature, Seats: seats, Meter: usher.Meter{Consumption: units, Period: period}}
}

func (f *fixture) consume(feature, client string, amount int64, id string) (usher.ConsumeResult, error) {
	return f.ledger.Consume(context.Background(), usher.ConsumeRequest{Feature: feature, Amount: amount, Client: usher.Client{ID: client, User: "u-" + client}, ID: id})
}

func (f *fixture) mustConsume(feature, client string, amount int64, id string) usher.ConsumeResult {
	f.t.Helper()
	r, err := f.consume(feature, client, amount, id)
	if err != nil {
		f.t.Fatalf("consume %d of %s for %s: %v", amount, feature, client, err)
	}
	return r
}

func wantUsed(t *testing.T, r usher.ConsumeResult, used, remaining int64) {
	t.Helper()
	if r.Used != used || r.Remaining != remaining {
		t.Fatalf("got used %d remaining %d, want used %d remaining %d", r.Used, r.Remaining, used, remaining)
	}
}

func TestConsumeUntilLimitPlusOverage(t *testing.T) {
	f := newFixture(t)
	g := metered("render", 0, 10, usher.PeriodNone)
	g.Meter.Overage = 3
	f.add(g)
	wantUsed(t, f.mustConsume("render", "c1", 6, ""), 6, 4)
	wantUsed(t, f.mustConsume("render", "c2", 6, ""), 12, 0) // into the overage
	_, err := f.consume("render", "c1", 2, "")
	wantCode(t, err, usher.EConsumptionExhausted)
	if !errors.Is(err, usher.ErrConsumptionExhausted) {
		t.Fatalf("errors.Is(%v, ErrConsumptionExhausted) = false", err)
	}
	wantUsed(t, f.mustConsume("render", "c1", 1, ""), 13, 0) // exactly the limit plus overage
	st := f.feature("render").Consumption
	if st == nil || st.Used != 13 || st.Limit != 10 || st.Overage != 3 || st.PeriodEndsAt != nil {
		t.Fatalf("got feature consumption %+v, want used 13 of 10 + 3, no period end", st)
	}
}

func TestConsumeUnlimitedOverage(t *testing.T) {
	f := newFixture(t)
	g := metered("render", 0, 1, usher.PeriodDay)
	g.Meter.OverageUnlimited = true
	f.add(g)
	wantUsed(t, f.mustConsume("render", "c1", 1000, ""), 1000, 0)
}

func TestConsumeRefusesWhatIsNotMetered(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	_, err := f.consume("cad", "c1", 1, "")
	wantCode(t, err, usher.EFeatureNotFound)
	_, err = f.consume("nope", "c1", 1, "")
	wantCode(t, err, usher.EFeatureNotFound)
	_, err = f.consume("cad", "c1", 0, "")
	wantCode(t, err, usher.EInvalid)
}

// recorder keeps the ledger's events.
type recorder struct {
	mu     sync.Mutex
	events []usher.Event
}

func (r *recorder) Observe(ev usher.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func TestConsumeEvents(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 10, usher.PeriodNone))
	var rec recorder
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: f.store, Keyring: f.keys, Now: f.clock.Now, Observer: &rec})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	f.mustConsume("render", "c1", 4, "a")
	f.mustConsume("render", "c1", 4, "a")
	_, err = f.consume("render", "c1", 7, "")
	wantCode(t, err, usher.EConsumptionExhausted)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 2 || rec.events[0].Type != usher.EventConsumptionRecorded || rec.events[0].Reason != "4 units" ||
		rec.events[1].Type != usher.EventConsumptionDenied || rec.events[1].Reason != usher.EConsumptionExhausted {
		t.Fatalf("got events %+v, want one consumption_recorded of 4 units and one consumption_denied", rec.events)
	}
}

func TestConsumeRetriedIDCountsOnce(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 10, usher.PeriodMonth))
	wantUsed(t, f.mustConsume("render", "c1", 4, "job-1"), 4, 6)
	wantUsed(t, f.mustConsume("render", "c1", 4, "job-1"), 4, 6)
	wantUsed(t, f.mustConsume("render", "c2", 4, "job-1"), 8, 2) // another client's id is another request
	f.reopen()
	wantUsed(t, f.mustConsume("render", "c1", 4, "job-1"), 8, 2)
}

func TestConsumeConcurrentRetriesCountOnce(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 100, usher.PeriodNone))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.consume("render", "c1", 5, "same"); err != nil {
				t.Errorf("consume: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := f.feature("render").Consumption.Used; got != 5 {
		t.Fatalf("got used %d after 8 tries of one id, want 5", got)
	}
}

func TestConsumeResetsAtCalendarBoundaries(t *testing.T) {
	for _, tt := range []struct {
		period string
		end    time.Time // of the period of t0, 2026-11-23 12:00 UTC
	}{
		{usher.PeriodDay, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{usher.PeriodMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{usher.PeriodYear, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.period, func(t *testing.T) {
			f := newFixture(t)
			f.add(metered("render", 0, 10, tt.period))
			r := f.mustConsume("render", "c1", 10, "a")
			if r.PeriodEndsAt == nil || !r.PeriodEndsAt.Equal(tt.end) {
				t.Fatalf("got period end %v, want %v", r.PeriodEndsAt, tt.end)
			}
			f.clock.Set(tt.end.Add(-time.Nanosecond))
			_, err := f.consume("render", "c1", 1, "")
			wantCode(t, err, usher.EConsumptionExhausted)
			f.clock.Set(tt.end)
			wantUsed(t, f.mustConsume("render", "c1", 3, ""), 3, 7)
			wantUsed(t, f.mustConsume("render", "c1", 10, "a"), 3, 7) // an id of the period before still counts once
		})
	}
}

func TestConsumeSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 10, usher.PeriodDay))
	f.mustConsume("render", "c1", 7, "")
	f.reopen()
	_, err := f.consume("render", "c1", 4, "")
	wantCode(t, err, usher.EConsumptionExhausted)
	wantUsed(t, f.mustConsume("render", "c1", 3, ""), 10, 0)
}

func TestConsumeStoreFailureCountsNothing(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 10, usher.PeriodNone))
	f.store.setFail(errors.New("disk full"))
	if _, err := f.consume("render", "c1", 5, "x"); err == nil {
		t.Fatal("consume with a failing store: got nil error")
	}
	f.store.setFail(nil)
	wantUsed(t, f.mustConsume("render", "c1", 5, "x"), 5, 5) // the failed id is counted when it succeeds
}

func TestConsumptionAndSeatsCombine(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 1, 10, usher.PeriodNone), usher.Grant{Feature: "render", Seats: 1, Meter: usher.Meter{Consumption: 5, Period: usher.PeriodNone}})
	f.mustCheckout("render", "a")
	f.mustCheckout("render", "b")
	_, err := f.checkout("render", "c")
	wantCode(t, err, usher.ENoSeats)
	wantUsed(t, f.mustConsume("render", "a", 15, ""), 15, 0) // two grants stack their units
	if fs := f.feature("render"); fs.InUse != 2 || fs.Seats != 2 || fs.Consumption.Used != 15 {
		t.Fatalf("got %+v, want 2 of 2 seats and 15 units used", fs)
	}
}

func TestConsumeExpiredFeature(t *testing.T) {
	f := newFixture(t)
	g := metered("render", 0, 10, usher.PeriodNone)
	g.ExpiresAt = t0.Add(time.Hour)
	f.add(g)
	f.clock.Advance(2 * time.Hour)
	_, err := f.consume("render", "c1", 1, "")
	wantCode(t, err, usher.EFeatureExpired)
}

func TestConsumptionReportPerClient(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 100, usher.PeriodDay), metered("sim", 0, 100, usher.PeriodNone))
	f.mustConsume("render", "c1", 3, "")
	f.mustConsume("render", "c2", 4, "")
	f.mustConsume("render", "c1", 5, "")
	f.mustConsume("sim", "c2", 1, "")
	f.clock.Advance(24 * time.Hour)
	f.mustConsume("render", "c2", 2, "")
	got := f.ledger.ConsumptionReport()
	type row struct {
		feature, client string
		used            int64
		n               int
	}
	want := []row{{"render", "c2", 2, 1}, {"sim", "c2", 1, 1}}
	if len(got) != len(want) {
		t.Fatalf("got report %+v, want %v", got, want)
	}
	for i, w := range want {
		if g := got[i]; g.Feature != w.feature || g.Client.ID != w.client || g.Used != w.used || g.Consumptions != w.n || g.Client.User != "u-"+w.client {
			t.Fatalf("got row %d %+v, want %+v", i, g, w)
		}
	}
}

func TestConsumptionsOfOldPeriodsArePruned(t *testing.T) {
	f := newFixture(t)
	f.add(metered("render", 0, 100, usher.PeriodDay))
	f.mustConsume("render", "c1", 1, "old")
	f.clock.Advance(24 * time.Hour)
	f.mustConsume("render", "c1", 1, "")
	if _, err := f.ledger.Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.store.consumptions); n != 2 {
		t.Fatalf("got %d stored consumptions the day after, want 2 (the day before is kept for retries)", n)
	}
	f.clock.Advance(24 * time.Hour)
	f.mustConsume("render", "c1", 1, "")
	if _, err := f.ledger.Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.store.consumptions); n != 2 {
		t.Fatalf("got %d stored consumptions two days after, want 2", n)
	}
}
