package usher

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// attrFormat is the license format of a license whose grants use any
// attribute of grantAttrs: a server older than them refuses the file
// (format not supported) instead of serving it without the attribute.
const attrFormat = "3"

// Counting scopes of a grant (Grant.Scope): which leases of a feature share
// one seat. See docs/licensing-models.md.
const (
	ScopeSession = "session" // one seat per client id (the default)
	ScopeProcess = "process" // one seat per host and process id
	ScopeHost    = "host"    // one seat per host
	ScopeUser    = "user"    // one seat per user
)

// grantAttr is one optional attribute of a grant line, after seats, starts
// and expires. parse reads the value of key=value into a grant; format
// writes it, or returns "" when the grant does not use the attribute.
type grantAttr struct {
	name   string
	parse  func(g *Grant, v string) error
	format func(g Grant) string
}

// grantAttrs lists the optional grant attributes in the order a grant line
// writes them. Adding an attribute is a field on Grant and an entry here:
// usher vendor issue, the canonical form, the format bump and validation
// follow from the table.
var grantAttrs = []grantAttr{
	{"scope", parseScopeAttr, func(g Grant) string { return g.Scope }},
	{"version", parseVersionAttr, func(g Grant) string { return g.Version }},
	{"linger", durationAttr(func(g *Grant) *time.Duration { return &g.Linger }), func(g Grant) string { return formatLicenseDuration(g.Linger) }},
	{"borrow", durationAttr(func(g *Grant) *time.Duration { return &g.Borrow }), func(g Grant) string { return formatLicenseDuration(g.Borrow) }},
	// consumption, subscriptions and checkpoint renewals: license_meter.go
	{"consumption", parseConsumptionAttr, formatConsumption},
	{"period", parsePeriodAttr, func(g Grant) string { return g.Meter.Period }},
	{"overage", parseOverageAttr, formatOverage},
	{"subscription", durationAttr(func(g *Grant) *time.Duration { return &g.Subscription.Length }), func(g Grant) string { return formatLicenseDuration(g.Subscription.Length) }},
	{"group", parseGroupAttr, func(g Grant) string { return g.Subscription.Group }},
	{"renew_every", durationAttr(func(g *Grant) *time.Duration { return &g.RenewEvery }), func(g Grant) string { return formatLicenseDuration(g.RenewEvery) }},
	{"users", parseUsersAttr, func(g Grant) string { return g.Users }}, // users.go
}

// SetAttr sets one optional attribute of g, given as in a grant line
// (scope=host, version=2026.2, linger=15m, borrow=7d ...). usher vendor
// issue passes the key=value pairs of --feature through it.
//
// Errors: EInvalid for an unknown key or a malformed value.
func (g *Grant) SetAttr(key, value string) error {
	for _, a := range grantAttrs {
		if a.name == key {
			if err := a.parse(g, value); err != nil {
				return Errorf(EInvalid, "feature %s: attribute %s: %v", g.Feature, key, err)
			}
			return nil
		}
	}
	return Errorf(EInvalid, "feature %s: unknown attribute %q: use seats, starts, expires or one of %s", g.Feature, key, attrNames())
}

func attrNames() string {
	names := make([]string, len(grantAttrs))
	for i, a := range grantAttrs {
		names[i] = a.name
	}
	return strings.Join(names, ", ")
}

// hasAttrs reports whether g uses any optional attribute.
func (g Grant) hasAttrs() bool {
	for _, a := range grantAttrs {
		if a.format(g) != "" {
			return true
		}
	}
	return false
}

// encodeAttrs writes g's optional attributes in canonical order, each
// after one space.
func (g Grant) encodeAttrs(b *strings.Builder) {
	for _, a := range grantAttrs {
		if v := a.format(g); v != "" {
			fmt.Fprintf(b, " %s=%s", a.name, v)
		}
	}
}

// validateAttrs checks that every attribute g uses reads back as written,
// which holds exactly for the values parse accepts.
func (g Grant) validateAttrs() error {
	for _, a := range grantAttrs {
		v := a.format(g)
		if v == "" {
			continue
		}
		var back Grant
		if err := a.parse(&back, v); err != nil {
			return Errorf(EInvalid, "feature %s: attribute %s=%s: %v", g.Feature, a.name, v, err)
		}
	}
	return nil
}

// parseAttrLine reads an optional attribute of a license's grant line. A
// key this server does not know was written by a newer Usher.
func (g *Grant) parseAttrLine(key, value string) error {
	for _, a := range grantAttrs {
		if a.name == key {
			return a.parse(g, value)
		}
	}
	return fmt.Errorf("unknown attribute %q: the license was made for a newer Usher; upgrade Usher to serve it", key)
}

func parseScopeAttr(g *Grant, v string) error {
	switch v {
	case ScopeSession:
		g.Scope = "" // the default, never written
	case ScopeProcess, ScopeHost, ScopeUser:
		g.Scope = v
	default:
		return fmt.Errorf("%q is not a scope: use session, process, host or user", v)
	}
	return nil
}

func parseVersionAttr(g *Grant, v string) error {
	if _, err := ParseVersion(v); err != nil {
		return err
	}
	g.Version = v
	return nil
}

// durationAttr returns the parse function of a positive duration field.
func durationAttr(field func(g *Grant) *time.Duration) func(g *Grant, v string) error {
	return func(g *Grant, v string) error {
		d, err := parseLicenseDuration(v)
		if err != nil {
			return err
		}
		*field(g) = d
		return nil
	}
}

// parseLicenseDuration reads a positive whole number of seconds written as
// a Go duration (90m, 1h30m, 168h) or as whole days (7d, one day being
// 24h).
func parseLicenseDuration(v string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 || strconv.Itoa(n) != days {
			return 0, fmt.Errorf("%q is not a duration: write whole days like 30d, or hours like 72h", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("%q is not a duration: write it like 15m, 72h or 30d", v)
		}
	}
	if d <= 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%q must be a positive whole number of seconds", v)
	}
	return d, nil
}

// formatLicenseDuration writes d in the largest of d, h, m and s that
// divides it exactly (7d, 36h, 90m), or "" for zero: the canonical form.
func formatLicenseDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String() // whole seconds, or invalid: validateAttrs refuses it
}

// hasAttrs reports whether any grant of l uses an optional attribute.
func (l *License) hasAttrs() bool {
	for _, g := range l.Grants {
		if g.hasAttrs() {
			return true
		}
	}
	return false
}
