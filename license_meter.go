package usher

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Consumption periods of a metered grant (Meter.Period): the counter
// starts again at each calendar boundary, in UTC, or never.
const (
	PeriodNone  = "none"
	PeriodDay   = "day"
	PeriodMonth = "month"
	PeriodYear  = "year"
)

// Meter is the consumption part of a grant: the units one period may spend.
type Meter struct {
	Consumption      int64  // units per period; 0: the grant is not metered
	Period           string // PeriodNone, PeriodDay, PeriodMonth or PeriodYear
	Overage          int64  // units allowed beyond Consumption
	OverageUnlimited bool   // no bound beyond Consumption
}

// Metered reports whether the meter counts anything.
func (m Meter) Metered() bool { return m.Consumption > 0 }

// Subscription is a grant whose period starts when its license is first
// added to a server (activated), and that merges with the other tickets of
// its group; see subscription.go.
type Subscription struct {
	Length time.Duration // zero: not a subscription
	Group  string
}

// SetModelAttribute sets the licensing-model attribute key of a grant
// (consumption, period, overage, subscription, group, renew_every) from
// its text. It reports false for a key it does not know.
func (g *Grant) SetModelAttribute(key, val string) (known bool, err error) {
	switch key {
	case "consumption":
		g.Meter.Consumption, err = parseUnits(val)
	case "period":
		g.Meter.Period = val
	case "overage":
		if val == "unlimited" {
			g.Meter.OverageUnlimited = true
		} else {
			g.Meter.Overage, err = parseUnits(val)
		}
	case "subscription":
		g.Subscription.Length, err = ParseDays(val)
	case "group":
		g.Subscription.Group = val
	case "renew_every":
		g.RenewEvery, err = ParseDays(val)
	default:
		return false, nil
	}
	return true, err
}

func parseUnits(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number >= 0", v)
	}
	return n, nil
}

// ParseDays parses a positive duration: "30d" (d is 24 hours) or any Go
// duration such as "36h".
func ParseDays(v string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days > 1_000_000 {
			return 0, fmt.Errorf("%q is not a duration: use a value like 30d or 12h", v)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("%q is not a duration: use a value like 30d or 12h", v)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", v)
	}
	return d, nil
}

// FormatDays formats a duration the way ParseDays reads it: whole days as
// "30d", anything else as Go does.
func FormatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// encodeModels returns the model attributes of a grant line, in their one
// canonical order.
func (g Grant) encodeModels() string {
	var b strings.Builder
	if m := g.Meter; m.Metered() {
		fmt.Fprintf(&b, " consumption=%d period=%s", m.Consumption, m.Period)
		if m.OverageUnlimited {
			b.WriteString(" overage=unlimited")
		} else if m.Overage > 0 {
			fmt.Fprintf(&b, " overage=%d", m.Overage)
		}
	}
	if s := g.Subscription; s.Length > 0 {
		fmt.Fprintf(&b, " subscription=%s group=%s", FormatDays(s.Length), s.Group)
	}
	if g.RenewEvery > 0 {
		fmt.Fprintf(&b, " renew_every=%s", FormatDays(g.RenewEvery))
	}
	return b.String()
}

func (g Grant) validateModels() error {
	m := g.Meter
	switch {
	case !m.Metered() && (m.Period != "" || m.Overage != 0 || m.OverageUnlimited):
		return Errorf(EInvalid, "feature %s: period and overage need consumption=N (N > 0)", g.Feature)
	case m.Metered() && !validPeriod(m.Period):
		return Errorf(EInvalid, "feature %s: period %q is not valid: use none, day, month or year", g.Feature, m.Period)
	case m.OverageUnlimited && m.Overage != 0:
		return Errorf(EInvalid, "feature %s: overage is a number or unlimited, not both", g.Feature)
	}
	s := g.Subscription
	switch {
	case s.Length < 0 || (s.Length == 0 && s.Group != ""):
		return Errorf(EInvalid, "feature %s: group needs subscription=DURATION", g.Feature)
	case s.Length > 0 && !featureNameRE.MatchString(s.Group):
		return Errorf(EInvalid, "feature %s: a subscription needs group=NAME (1-64 lower-case letters, digits, '.', '_' or '-')", g.Feature)
	case s.Length > 0 && (!g.StartsAt.IsZero() || !g.ExpiresAt.IsZero()):
		return Errorf(EInvalid, "feature %s: a subscription starts at activation: drop starts= and expires=", g.Feature)
	case g.RenewEvery < 0:
		return Errorf(EInvalid, "feature %s: renew_every must be positive", g.Feature)
	}
	return nil
}

func validPeriod(p string) bool {
	return p == PeriodNone || p == PeriodDay || p == PeriodMonth || p == PeriodYear
}

func (l *License) encodeRenewalURL() string {
	if l.RenewalURL == "" {
		return ""
	}
	return "renewal_url: " + l.RenewalURL + "\n"
}

func (l *License) validateRenewalURL() error {
	if l.RenewalURL == "" {
		return nil
	}
	u, err := url.Parse(l.RenewalURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(l.RenewalURL, " \t\r\n") {
		return Errorf(EInvalid, "renewal URL %q is not valid: give an http:// or https:// URL of the directory the renewal files are published in", l.RenewalURL)
	}
	return nil
}

// Checkpoint reports whether some grant of the license expires unless it
// is renewed.
func (l *License) Checkpoint() bool {
	for _, g := range l.Grants {
		if g.RenewEvery > 0 {
			return true
		}
	}
	return false
}
