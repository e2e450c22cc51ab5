package usher

import (
	"context"
	"sort"
	"time"
)

// LicenseState is what a server keeps of a license beyond its signed text:
// when it was activated (first added to this server or cluster), and its
// last renewal. It outlives the license, so that a ticket is activated
// only once: adding a removed license again does not start it again.
type LicenseState struct {
	ID          string    `json:"id"`
	ActivatedAt time.Time `json:"activated_at"`
	// Tickets are the license's subscription grants, kept so that a merged
	// subscription does not shrink when a ticket of it is removed.
	Tickets []Ticket `json:"tickets,omitempty"`
	// RenewedAt is when the last renewal was loaded, Until the end the
	// vendor signed into it, and Renewal the signed file (renewal.go).
	RenewedAt time.Time `json:"renewed_at,omitzero"`
	Until     time.Time `json:"until,omitzero"`
	Renewal   []byte    `json:"renewal,omitempty"`
}

// Ticket is one subscription grant of an activated license.
type Ticket struct {
	Feature string        `json:"feature"`
	Group   string        `json:"group"`
	Length  time.Duration `json:"length"`
}

// LicenseActivation returns when a license was activated on this server,
// and false if it never was (licenses added before activations were kept).
func (l *Ledger) LicenseActivation(id string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.states[id]
	if st == nil {
		return time.Time{}, false
	}
	return st.ActivatedAt, true
}

// activate stores the activation of a license added for the first time.
// It is stored before the license, so a failure in between leaves a ticket
// activated early rather than one that starts again.
func (l *Ledger) activate(ctx context.Context, lic *License) error {
	l.mu.Lock()
	_, done := l.states[lic.ID]
	l.mu.Unlock()
	if done {
		return nil
	}
	st := &LicenseState{ID: lic.ID, ActivatedAt: l.now().Truncate(time.Second)}
	for _, g := range lic.Grants {
		if s := g.Subscription; s.Length > 0 {
			st.Tickets = append(st.Tickets, Ticket{Feature: g.Feature, Group: s.Group, Length: s.Length})
		}
	}
	if err := l.store.PutLicenseState(ctx, *st); err != nil {
		return err
	}
	l.mu.Lock()
	l.setStateLocked(st)
	l.mu.Unlock()
	return nil
}

func (l *Ledger) setStateLocked(st *LicenseState) {
	if l.states == nil {
		l.states = make(map[string]*LicenseState)
	}
	l.states[st.ID] = st
}

// restoreModels takes the stored counters and license states.
func (l *Ledger) restoreModels(snap *Snapshot) {
	for i := range snap.LicenseStates {
		st := snap.LicenseStates[i]
		l.setStateLocked(&st)
	}
	l.restoreConsumptions(snap.Consumptions)
}

type subKey struct{ group, feature string }

// subRun is one uninterrupted subscription of a group and feature: the
// tickets activated before it ended add their lengths to it.
type subRun struct {
	start, end time.Time
	tickets    []string // license IDs, in activation order
}

// subscriptionRunsLocked computes every run from every activated ticket,
// loaded or not. A ticket activated before its group's run ended extends
// it; one activated at or after the end starts a new run.
func (l *Ledger) subscriptionRunsLocked() map[subKey][]*subRun {
	type act struct {
		id     string
		at     time.Time
		ticket Ticket
	}
	var acts []act
	for _, st := range l.states {
		for _, t := range st.Tickets {
			acts = append(acts, act{st.ID, st.ActivatedAt, t})
		}
	}
	sort.Slice(acts, func(i, j int) bool {
		if !acts[i].at.Equal(acts[j].at) {
			return acts[i].at.Before(acts[j].at)
		}
		return acts[i].id < acts[j].id
	})
	runs := make(map[subKey][]*subRun)
	for _, a := range acts {
		k := subKey{a.ticket.Group, a.ticket.Feature}
		rs := runs[k]
		if n := len(rs); n > 0 && a.at.Before(rs[n-1].end) {
			r := rs[n-1]
			r.end = r.end.Add(a.ticket.Length)
			r.tickets = append(r.tickets, a.id)
			continue
		}
		runs[k] = append(rs, &subRun{start: a.at, end: a.at.Add(a.ticket.Length), tickets: []string{a.id}})
	}
	return runs
}

// servedSubscriptionsLocked returns, per license and subscription key, the
// window its grant serves in: only the latest loaded ticket of a run
// serves (seats do not add up), over the whole run.
func (l *Ledger) servedSubscriptionsLocked() map[string]map[subKey]window {
	out := make(map[string]map[subKey]window)
	for k, rs := range l.subscriptionRunsLocked() {
		for _, r := range rs {
			for i := len(r.tickets) - 1; i >= 0; i-- {
				id := r.tickets[i]
				if l.licenses[id] == nil {
					continue
				}
				if out[id] == nil {
					out[id] = make(map[subKey]window)
				}
				out[id][k] = window{r.start, r.end}
				break
			}
		}
	}
	return out
}

// rebuildPoolsLocked groups the grants that serve by feature: subscription
// grants over their run's window, checkpoint grants until their technical
// expiry.
func (l *Ledger) rebuildPoolsLocked() {
	served := l.servedSubscriptionsLocked()
	eff := make(map[string]*License, len(l.licenses))
	for id, lic := range l.licenses {
		eff[id] = l.effectiveLocked(lic, served[id])
	}
	if b := l.blockLicenseLocked(); b != nil { // relay.go
		eff[b.ID] = b
	}
	l.pools = buildPools(eff, l.gate, l.hwGate)
	l.guardPoolsLocked() // clockguard.go
}

// effectiveLocked returns lic with its model grants resolved to plain time
// windows, or lic itself when it has none.
func (l *Ledger) effectiveLocked(lic *License, subs map[subKey]window) *License {
	if !lic.hasWindowModels() {
		return lic
	}
	cp := *lic
	cp.Grants = make([]Grant, 0, len(lic.Grants))
	for _, g := range lic.Grants {
		if s := g.Subscription; s.Length > 0 {
			w, ok := subs[subKey{s.Group, g.Feature}]
			if !ok {
				continue // superseded by a later ticket of its run, or never activated
			}
			g.StartsAt, g.ExpiresAt = w.start, w.end.Add(-time.Second) // grant windows include their last second
		}
		if g.RenewEvery > 0 {
			if end := l.technicalExpiryLocked(lic.ID, g); g.ExpiresAt.IsZero() || end.Before(g.ExpiresAt) {
				g.ExpiresAt = end.Add(-time.Second)
			}
		}
		cp.Grants = append(cp.Grants, g)
	}
	return &cp
}

func (lic *License) hasWindowModels() bool {
	for _, g := range lic.Grants {
		if g.Subscription.Length > 0 || g.RenewEvery > 0 {
			return true
		}
	}
	return false
}

// removeEndedTickets removes, after lic was activated, the loaded tickets
// of its subscriptions whose runs had ended by then: lic started afresh.
func (l *Ledger) removeEndedTickets(ctx context.Context, lic *License) {
	l.mu.Lock()
	st := l.states[lic.ID]
	var ended []string
	if st != nil && len(st.Tickets) > 0 {
		ended = l.endedTicketsLocked(st)
	}
	l.mu.Unlock()
	for _, id := range ended {
		if _, err := l.RemoveLicense(ctx, id); err != nil && ErrorCode(err) != ELicenseNotFound {
			l.logger.Warn("expired subscription ticket not removed: remove it with usher license remove", "license", id, "err", err)
		}
	}
}

// endedTicketsLocked returns the loaded licenses made only of tickets
// whose runs ended at or before st's activation, one of them of a group
// and feature of st.
func (l *Ledger) endedTicketsLocked(st *LicenseState) []string {
	keys := make(map[subKey]bool)
	for _, t := range st.Tickets {
		keys[subKey{t.Group, t.Feature}] = true
	}
	ended := make(map[string]int) // license ID: its tickets in ended runs
	related := make(map[string]bool)
	for k, rs := range l.subscriptionRunsLocked() {
		for _, r := range rs {
			if r.end.After(st.ActivatedAt) {
				continue
			}
			for _, id := range r.tickets {
				ended[id]++
				related[id] = related[id] || keys[k]
			}
		}
	}
	var out []string
	for id, n := range ended {
		if lic := l.licenses[id]; lic != nil && related[id] && id != st.ID && onlyTickets(lic) && n == len(lic.Grants) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func onlyTickets(lic *License) bool {
	for _, g := range lic.Grants {
		if g.Subscription.Length == 0 {
			return false
		}
	}
	return true
}
