package usher

import (
	"fmt"
	"strings"
)

// policyCounts is what the clients each count rule of a feature matches
// hold, kept as leases come and go so that a checkout never scans leases.
type policyCounts struct {
	total []int            // by index of featurePolicy.counted
	each  []map[string]int // for rules counted per each: by user or host
}

func newPolicyCounts(fp *featurePolicy) *policyCounts {
	pc := &policyCounts{total: make([]int, len(fp.counted)), each: make([]map[string]int, len(fp.counted))}
	for i, r := range fp.counted {
		if r.each != "" {
			pc.each[i] = make(map[string]int)
		}
	}
	return pc
}

// add counts n more seats held by c, from addr, in every rule that matches.
func (pc *policyCounts) add(fp *featurePolicy, c *Client, addr string, n int) {
	for i, r := range fp.counted {
		if !r.m.match(c, addr) {
			continue
		}
		pc.total[i] += n
		if r.each == "" {
			continue
		}
		who := r.who(c)
		if pc.each[i][who] += n; pc.each[i][who] <= 0 {
			delete(pc.each[i], who)
		}
	}
}

// held returns what rule i counts for c.
func (pc *policyCounts) held(fp *featurePolicy, i int, c *Client) int {
	if r := fp.counted[i]; r.each != "" {
		return pc.each[i][r.who(c)]
	}
	return pc.total[i]
}

// admit decides whether the rules of fp let client c, from addr, take
// want seats of a feature with the given licensed seats of which inUse
// are in use. It returns the seats the checkout may count on, the overdraft
// included, or an EPolicyDenied error naming the rule.
func (fp *featurePolicy) admit(pc *policyCounts, c *Client, addr string, want, seats int, unlimited bool, inUse int) (int, error) {
	if err := fp.allowed(c, addr); err != nil {
		return seats, err
	}
	for i := fp.reserves; i < len(fp.counted); i++ {
		r := fp.counted[i]
		if !r.m.match(c, addr) {
			continue
		}
		if held := pc.held(fp, i, c); held+want > r.limit {
			why := fmt.Sprintf("%s holds %d", r.holder(c), held)
			if want > 1 {
				why += fmt.Sprintf(" and asks for %d more", want)
			}
			return seats, policyDenied(r.rule, why, fp.name)
		}
	}
	if unlimited {
		return seats, nil
	}
	seats += fp.overdraft
	free := seats - inUse
	if free < want {
		return seats, nil // not seats enough at all: that refusal is not the policy's
	}
	kept, by := 0, ""
	for i := range fp.reserves {
		r := fp.counted[i]
		if unused := r.limit - pc.total[i]; unused > 0 && !r.m.match(c, addr) {
			kept += unused
			if by == "" {
				by = r.rule
			}
		}
	}
	if free-want < kept {
		return seats, policyDenied(by, fmt.Sprintf("%d of %d seats free, %d kept for others", free, seats, kept), fp.name)
	}
	return seats, nil
}

// allowed applies the include and exclude rules.
func (fp *featurePolicy) allowed(c *Client, addr string) error {
	for i := range fp.exclude {
		if fp.exclude[i].m.match(c, addr) {
			return policyDenied(fp.exclude[i].rule, describeClient(c, addr)+" is excluded", fp.name)
		}
	}
	if len(fp.include) == 0 {
		return nil
	}
	for i := range fp.include {
		if fp.include[i].m.match(c, addr) {
			return nil
		}
	}
	return policyDenied("feature."+fp.name+".include", describeClient(c, addr)+" matches no pattern", fp.name)
}

// holder names whose seats r counted.
func (r *countRule) holder(c *Client) string {
	if r.each != "" {
		return r.each + " " + r.who(c)
	}
	return r.key
}

func describeClient(c *Client, addr string) string {
	s := "user " + c.User + " on host " + c.Host
	if addr != "" {
		s += " from " + addr
	}
	return s
}

func policyDenied(rule, why, feature string) error {
	return Errorf(EPolicyDenied, "%s: %s: the server's policy refuses this checkout of %s; ask your admin if you need a seat", rule, why, feature)
}

// denialReason is the reason a checkout_denied event gives: the error
// code, and for a policy denial the rule and why after a colon.
func denialReason(err error) string {
	code := ErrorCode(err)
	if code != EPolicyDenied {
		return code
	}
	msg, _, _ := strings.Cut(ErrorMessage(err), ": the server's policy")
	return code + ": " + msg
}

// SetPolicy puts p in force for every later checkout, including those
// waiting in line; nil removes every rule. Leases already held stay, even
// those p would not have granted.
func (l *Ledger) SetPolicy(p *Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setPolicyLocked(p)
	l.serveQueuesLocked(l.tick()) // an overdraft may add seats
}

func (l *Ledger) setPolicyLocked(p *Policy) {
	if p == nil || len(p.features) == 0 {
		l.policy, l.policyUse = nil, nil
		return
	}
	l.policy, l.policyUse = p, make(map[string]*policyCounts, len(p.features))
	for name, fp := range p.features {
		l.policyUse[name] = newPolicyCounts(fp)
	}
	for _, e := range l.leases {
		l.policyCountLocked(&e.lease, 1)
	}
}

// Policy returns the policy in force, or nil.
func (l *Ledger) Policy() *Policy {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.policy
}

// admitLocked applies the policy to req; see featurePolicy.admit. It is
// called only while a policy is in force.
func (l *Ledger) admitLocked(req *CheckoutRequest, seats int, unlimited bool) (int, error) {
	fp := l.policy.features[req.Feature]
	if fp == nil {
		return seats, nil
	}
	return fp.admit(l.policyUse[req.Feature], &req.Client, req.Addr, max(req.Count, 1), seats, unlimited, l.inUse[req.Feature])
}

// policyCountLocked counts n more seats held by ls in the policy's rules.
func (l *Ledger) policyCountLocked(ls *Lease, n int) {
	if l.policy == nil {
		return
	}
	if fp := l.policy.features[ls.Feature]; fp != nil {
		l.policyUse[ls.Feature].add(fp, &ls.Client, ls.Addr, n)
	}
}

// overdraftLocked returns, for a grant that left inUse seats of feature
// in use, "overdraft" when they exceed the licensed seats, and "" else.
func (l *Ledger) overdraftLocked(feature string, inUse int) string {
	if l.policy == nil || l.policy.features[feature] == nil || l.policy.features[feature].overdraft == 0 {
		return ""
	}
	p := l.pools[feature]
	if p == nil {
		return ""
	}
	seats, unlimited, err := p.capacity(l.now(), feature)
	if err != nil || unlimited || inUse <= seats {
		return ""
	}
	return fmt.Sprintf("overdraft: %d of %d licensed seats in use", inUse, seats)
}
