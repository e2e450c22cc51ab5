package usher

import (
	"sort"
	"time"
)

// PolicyStep is one change a dry run of a policy replays: a checkout
// granted (Lease set, End false) or a lease that ended (End true; only
// LeaseID matters).
type PolicyStep struct {
	Time    time.Time
	Feature string
	LeaseID string
	Client  Client
	Addr    string // "" when the record does not say
	End     bool
	Source  string // where the step comes from, as a denial reports it
}

// PolicyDenial is a checkout a dry run found the policy would refuse.
type PolicyDenial struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	Feature string    `json:"feature"`
	LeaseID string    `json:"lease_id,omitempty"`
	Client  Client    `json:"client"`
	Rule    string    `json:"rule"` // the rule and why, as a checkout_denied event gives it
}

// Capacity is the licensed seats of one feature, for a dry run.
type Capacity struct {
	Seats     int
	Unlimited bool
}

// Check replays steps, in time order, against p and returns every
// checkout p would have refused, and by which rule. Every checkout is
// replayed as granted, refused or not, since it did happen: later
// decisions see the seats it took. capacity gives each feature's
// licensed seats; a feature it lacks is replayed without a seat limit.
func (p *Policy) Check(capacity map[string]Capacity, steps []PolicyStep) []PolicyDenial {
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Time.Before(steps[j].Time) })
	counts := make(map[string]*policyCounts, len(p.features))
	inUse := make(map[string]int)
	held := make(map[string]PolicyStep)
	out := []PolicyDenial{}
	for _, s := range steps {
		fp := p.features[s.Feature]
		if s.End {
			g, ok := held[s.LeaseID]
			if !ok {
				continue // began before the period: never counted
			}
			delete(held, s.LeaseID)
			inUse[g.Feature]--
			if fp := p.features[g.Feature]; fp != nil {
				counts[g.Feature].add(fp, &g.Client, g.Addr, -1)
			}
			continue
		}
		if fp != nil {
			if counts[s.Feature] == nil {
				counts[s.Feature] = newPolicyCounts(fp)
			}
			c, ok := capacity[s.Feature]
			if !ok {
				c.Unlimited = true
			}
			if _, err := fp.admit(counts[s.Feature], &s.Client, s.Addr, 1, c.Seats, c.Unlimited, inUse[s.Feature]); err != nil {
				out = append(out, PolicyDenial{Time: s.Time, Source: s.Source, Feature: s.Feature, LeaseID: s.LeaseID, Client: s.Client, Rule: denialReason(err)[len(EPolicyDenied)+2:]})
			}
			counts[s.Feature].add(fp, &s.Client, s.Addr, 1)
		}
		if s.LeaseID != "" {
			held[s.LeaseID] = s
		}
		inUse[s.Feature]++
	}
	return out
}
