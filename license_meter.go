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

func parseConsumptionAttr(g *Grant, v string) error {
	n, err := parseUnits(v)
	if err == nil && n == 0 {
		err = fmt.Errorf("consumption must be at least 1")
	}
	g.Meter.Consumption = n
	return err
}

func formatConsumption(g Grant) string {
	if g.Meter.Consumption == 0 {
		return ""
	}
	return strconv.FormatInt(g.Meter.Consumption, 10)
}

func parsePeriodAttr(g *Grant, v string) error {
	if !validPeriod(v) {
		return fmt.Errorf("%q is not a period: use none, day, month or year", v)
	}
	g.Meter.Period = v
	return nil
}

func parseOverageAttr(g *Grant, v string) error {
	if v == "unlimited" {
		g.Meter.OverageUnlimited = true
		return nil
	}
	n, err := parseUnits(v)
	if err == nil && n == 0 {
		err = fmt.Errorf("overage 0 is the default: leave it out")
	}
	g.Meter.Overage = n
	return err
}

func formatOverage(g Grant) string {
	switch {
	case g.Meter.OverageUnlimited && g.Meter.Overage == 0:
		return "unlimited"
	case g.Meter.Overage == 0:
		return ""
	}
	return strconv.FormatInt(g.Meter.Overage, 10)
}

func parseGroupAttr(g *Grant, v string) error {
	if !featureNameRE.MatchString(v) {
		return fmt.Errorf("%q is not a group name: use 1-64 lower-case letters, digits, '.', '_' or '-'", v)
	}
	g.Subscription.Group = v
	return nil
}

func parseUnits(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
		return 0, fmt.Errorf("%q is not a whole number >= 0", v)
	}
	return n, nil
}

// ParseDays parses a positive duration of whole seconds as a license
// writes it: "30d" (d is 24 hours) or a Go duration such as "36h".
func ParseDays(v string) (time.Duration, error) { return parseLicenseDuration(v) }

// FormatDays writes a duration the way a license does: "30d", "36h", "90m".
func FormatDays(d time.Duration) string { return formatLicenseDuration(d) }

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
	if !l.Checkpoint() {
		return Errorf(EInvalid, "a renewal URL needs a feature with renew_every=DURATION: add one, or leave the URL out")
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
