package usher

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxPolicyLinger bounds a policy's linger: a seat held a week after its
// client let go of it is a mistake, not a policy.
const maxPolicyLinger = 7 * 24 * time.Hour

// EPolicyDenied refuses a checkout that the admin's policy does not allow.
// The message names the rule, as feature.cad.max["user:*"]=1.
const EPolicyDenied = "policy_denied"

// ErrPolicyDenied matches any *Error with the code EPolicyDenied.
var ErrPolicyDenied = &Error{Code: EPolicyDenied}

// PolicySpec is a policy as an admin writes it (docs/policies.md): named
// groups of users and hosts, and rules per feature.
type PolicySpec struct {
	Groups   map[string][]string          `toml:"groups" json:"groups,omitempty"`
	Features map[string]FeaturePolicySpec `toml:"feature" json:"feature,omitempty"`
}

// FeaturePolicySpec holds the rules of one feature. Keys of Reserve and
// Max, and entries of Include and Exclude, are patterns such as
// "user:alice", "host:ws1*" or "group:cad-team"; see docs/policies.md.
type FeaturePolicySpec struct {
	// Reserve keeps seats for whoever a key matches: others cannot take
	// the last seats reserved and not yet used.
	Reserve map[string]int `toml:"reserve" json:"reserve,omitempty"`
	// Max caps the seats of each user or host a key matches, or of a
	// group as a whole.
	Max map[string]int `toml:"max" json:"max,omitempty"`
	// Include, if not empty, serves only clients matching one pattern.
	Include []string `toml:"include" json:"include,omitempty"`
	// Exclude refuses clients matching any pattern.
	Exclude []string `toml:"exclude" json:"exclude,omitempty"`
	// Overdraft lets this many seats be used beyond the licensed ones.
	Overdraft int `toml:"overdraft" json:"overdraft,omitempty"`
	// Linger, a duration such as "15m", keeps a released seat with its
	// client that long. It can lengthen the linger the license grants,
	// never shorten it: the effective linger is the larger of the two.
	Linger string `toml:"linger" json:"linger,omitempty"`
}

// Policy is a compiled PolicySpec: what the ledger evaluates on every
// checkout of a feature it names. It is immutable once compiled.
type Policy struct {
	spec     PolicySpec
	features map[string]*featurePolicy
}

// featurePolicy is the compiled rules of one feature.
type featurePolicy struct {
	name      string
	include   []namedMatcher
	exclude   []namedMatcher
	counted   []*countRule // reserve rules, then max rules
	reserves  int          // counted[:reserves] are reserve rules
	overdraft int
	linger    time.Duration // 0: the grants decide
}

// namedMatcher is a pattern and the rule that holds it.
type namedMatcher struct {
	rule string
	m    matcher
}

// countRule is a reserve or max rule: it needs the seats held by those it
// matches.
type countRule struct {
	rule  string // as denials name it: feature.cad.max["user:*"]=1
	key   string // the pattern as written
	m     matcher
	limit int
	each  string // "user" or "host": counted per each; "": counted together
}

// matcher matches a client by one of its traits.
type matcher struct {
	kind    string // user, host, client, addr or group
	pattern string
	glob    globKind     // how pattern matches, decided once
	prefix  netip.Prefix // addr: a network
	members []matcher    // group
}

// globKind is the shape of a pattern, so that the common ones match
// without path.Match: exactly, anything, by prefix or by suffix.
type globKind uint8

const (
	globExact globKind = iota
	globAll
	globPrefix // "ws1*": pattern holds "ws1"
	globSuffix // "*.lab": pattern holds ".lab"
	globPath   // anything else: path.Match
)

// compileGlob returns the shape of pattern and what to compare.
func compileGlob(pattern string) (globKind, string) {
	meta := func(s string) bool { return strings.ContainsAny(s, "*?[\\") }
	switch {
	case !meta(pattern):
		return globExact, pattern
	case pattern == "*":
		return globAll, ""
	case strings.HasSuffix(pattern, "*") && !meta(pattern[:len(pattern)-1]):
		return globPrefix, pattern[:len(pattern)-1]
	case strings.HasPrefix(pattern, "*") && !meta(pattern[1:]):
		return globSuffix, pattern[1:]
	}
	return globPath, pattern
}

// matchGlob matches s against a pattern of the shape given.
func matchGlob(kind globKind, pattern, s string) bool {
	switch kind {
	case globExact:
		return s == pattern
	case globAll:
		return true
	case globPrefix:
		return strings.HasPrefix(s, pattern)
	case globSuffix:
		return strings.HasSuffix(s, pattern)
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// CompilePolicy checks spec and compiles it. A nil or empty spec compiles
// to a policy without rules.
//
// Errors: EInvalid naming the rule at fault.
func CompilePolicy(spec PolicySpec) (*Policy, error) {
	p := &Policy{spec: spec, features: make(map[string]*featurePolicy)}
	groups, err := compileGroups(spec.Groups)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(spec.Features) {
		if err := ValidateFeatureName(name); err != nil {
			return nil, Errorf(EInvalid, "feature.%s: %v", name, err)
		}
		fp, err := compileFeature(name, spec.Features[name], groups)
		if err != nil {
			return nil, err
		}
		p.features[name] = fp
	}
	return p, nil
}

func compileGroups(spec map[string][]string) (map[string]matcher, error) {
	out := make(map[string]matcher, len(spec))
	for _, name := range sortedKeys(spec) {
		g := matcher{kind: "group", pattern: name}
		for _, member := range spec[name] {
			m, err := compileMatcher(member, nil)
			if err != nil {
				return nil, Errorf(EInvalid, "groups.%s: %v", name, err)
			}
			g.members = append(g.members, m)
		}
		out[name] = g
	}
	return out, nil
}

func compileFeature(name string, spec FeaturePolicySpec, groups map[string]matcher) (*featurePolicy, error) {
	fp := &featurePolicy{name: name, overdraft: spec.Overdraft}
	prefix := "feature." + name + "."
	if spec.Overdraft < 0 {
		return nil, Errorf(EInvalid, "%soverdraft=%d: give 0 or more seats", prefix, spec.Overdraft)
	}
	if spec.Linger != "" {
		d, err := time.ParseDuration(spec.Linger)
		if err != nil || d < 0 || d > maxPolicyLinger {
			return nil, Errorf(EInvalid, "%slinger=%q: give a duration from 0s to %s, such as \"15m\"", prefix, spec.Linger, maxPolicyLinger)
		}
		fp.linger = d
	}
	for _, list := range []struct {
		key  string
		pats []string
		out  *[]namedMatcher
	}{{"include", spec.Include, &fp.include}, {"exclude", spec.Exclude, &fp.exclude}} {
		for _, pat := range list.pats {
			m, err := compileMatcher(pat, groups)
			if err != nil {
				return nil, Errorf(EInvalid, "%s%s: %v", prefix, list.key, err)
			}
			*list.out = append(*list.out, namedMatcher{rule: fmt.Sprintf("%s%s[%q]", prefix, list.key, pat), m: m})
		}
	}
	for _, kind := range []string{"reserve", "max"} {
		rules := spec.Reserve
		if kind == "max" {
			rules = spec.Max
			fp.reserves = len(fp.counted)
		}
		for _, key := range sortedKeys(rules) {
			r, err := compileCountRule(prefix+kind, key, rules[key], groups)
			if err != nil {
				return nil, err
			}
			fp.counted = append(fp.counted, r)
		}
	}
	return fp, nil
}

func compileCountRule(where, key string, limit int, groups map[string]matcher) (*countRule, error) {
	m, err := compileMatcher(key, groups)
	if err != nil {
		return nil, Errorf(EInvalid, "%s: %v", where, err)
	}
	if limit < 0 {
		return nil, Errorf(EInvalid, "%s[%q]=%d: give 0 or more seats", where, key, limit)
	}
	r := &countRule{rule: fmt.Sprintf("%s[%q]=%d", where, key, limit), key: key, m: m, limit: limit}
	switch m.kind {
	case "user", "host":
		if strings.HasSuffix(where, ".max") {
			r.each = m.kind
		}
	case "group":
	default:
		return nil, Errorf(EInvalid, "%s[%q]: reserve and max take user:, host: or group: keys", where, key)
	}
	return r, nil
}

// compileMatcher compiles "kind:pattern". groups is nil where groups may
// not be named.
func compileMatcher(s string, groups map[string]matcher) (matcher, error) {
	kind, pat, ok := strings.Cut(s, ":")
	if !ok || pat == "" {
		return matcher{}, fmt.Errorf("%q: write kind:pattern, with kind user, host, client, addr or group", s)
	}
	m := matcher{kind: kind, pattern: pat}
	switch kind {
	case "user", "host", "client":
		if _, err := path.Match(pat, ""); err != nil {
			return m, fmt.Errorf("%q: bad pattern: use * and ? as wildcards", s)
		}
		m.glob, m.pattern = compileGlob(pat)
	case "addr":
		return compileAddr(s, pat)
	case "group":
		if groups == nil {
			return m, fmt.Errorf("%q: a group lists users, hosts, clients and addresses, not other groups", s)
		}
		g, ok := groups[pat]
		if !ok {
			return m, fmt.Errorf("%q: no such group: define it under [groups]", s)
		}
		return g, nil
	default:
		return m, fmt.Errorf("%q: unknown kind %q: use user, host, client, addr or group", s, kind)
	}
	return m, nil
}

func compileAddr(s, pat string) (matcher, error) {
	m := matcher{kind: "addr", pattern: pat}
	if strings.Contains(pat, "/") {
		p, err := netip.ParsePrefix(pat)
		if err != nil {
			return m, fmt.Errorf("%q: bad network: write it as 10.0.0.0/8 or fd00::/8", s)
		}
		m.prefix = p.Masked()
		return m, nil
	}
	if _, err := path.Match(pat, ""); err != nil {
		return m, fmt.Errorf("%q: bad pattern: use * and ? as wildcards, or a network like 10.0.0.0/8", s)
	}
	m.glob, m.pattern = compileGlob(pat)
	return m, nil
}

// match reports whether the client c, checking out from addr, matches m.
func (m *matcher) match(c *Client, addr string) bool {
	switch m.kind {
	case "user":
		return matchGlob(m.glob, m.pattern, c.User)
	case "host":
		return matchGlob(m.glob, m.pattern, c.Host)
	case "client":
		return matchGlob(m.glob, m.pattern, c.ID)
	case "addr":
		if m.prefix.IsValid() {
			ip, err := netip.ParseAddr(addr)
			return err == nil && m.prefix.Contains(ip.Unmap())
		}
		return matchGlob(m.glob, m.pattern, addr)
	case "group":
		for i := range m.members {
			if m.members[i].match(c, addr) {
				return true
			}
		}
	}
	return false
}

// who names the seats a count rule counts for a client: the user or host
// for a rule counted per each, "" for one counted together.
func (r *countRule) who(c *Client) string {
	switch r.each {
	case "user":
		return c.User
	case "host":
		return c.Host
	}
	return ""
}

// Spec returns the spec p was compiled from.
func (p *Policy) Spec() PolicySpec { return p.spec }

// Rules returns the name of every rule of p, sorted: what a diff between
// two policies compares.
func (p *Policy) Rules() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, g := range sortedKeys(p.spec.Groups) {
		out = append(out, fmt.Sprintf("groups.%s=%q", g, p.spec.Groups[g]))
	}
	for _, name := range sortedKeys(p.features) {
		fp := p.features[name]
		for _, m := range fp.include {
			out = append(out, m.rule)
		}
		for _, m := range fp.exclude {
			out = append(out, m.rule)
		}
		for _, r := range fp.counted {
			out = append(out, r.rule)
		}
		if fp.overdraft > 0 {
			out = append(out, "feature."+name+".overdraft="+strconv.Itoa(fp.overdraft))
		}
		if fp.linger > 0 {
			out = append(out, "feature."+name+".linger="+fp.linger.String())
		}
	}
	sort.Strings(out)
	return out
}

// PolicyDiff is what changed between two policies, by rule.
type PolicyDiff struct {
	Added, Removed []string
	// Changed are rules in both with another value, as "old -> new".
	Changed []string
}

// DiffPolicies returns the rules of next that old lacks, those of old that
// next lacks, and those whose value changed.
func DiffPolicies(old, next *Policy) PolicyDiff {
	was, is := byRuleName(old.Rules()), byRuleName(next.Rules())
	var d PolicyDiff
	for _, r := range next.Rules() {
		prev, ok := was[ruleName(r)]
		switch {
		case !ok:
			d.Added = append(d.Added, r)
		case prev != r:
			d.Changed = append(d.Changed, prev+" -> "+r)
		}
	}
	for _, r := range old.Rules() {
		if _, ok := is[ruleName(r)]; !ok {
			d.Removed = append(d.Removed, r)
		}
	}
	return d
}

// ruleName is a rule without its value: feature.cad.max["user:*"].
func ruleName(rule string) string {
	if i := strings.LastIndex(rule, "="); i > strings.LastIndex(rule, "]") {
		return rule[:i]
	}
	return rule
}

func byRuleName(rules []string) map[string]string {
	out := make(map[string]string, len(rules))
	for _, r := range rules {
		out[ruleName(r)] = r
	}
	return out
}
