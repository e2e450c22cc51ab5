package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// printConsumptionStatus prints the counters of the metered features, if
// any, below the status table.
func printConsumptionStatus(e *env, features []usher.FeatureStatus) error {
	var t *table
	for _, f := range features {
		c := f.Consumption
		if c == nil {
			continue
		}
		if t == nil {
			fmt.Fprintln(e.stdout)
			t = newTable(e.stdout, "METERED", "PERIOD", "USED", "LIMIT", "OVERAGE", "REMAINING", "PERIOD ENDS")
		}
		overage := strconv.FormatInt(c.Overage, 10)
		if c.OverageUnlimited {
			overage = "unlimited"
		}
		t.row(f.Name, c.Period, c.Used, c.Limit, overage, c.Remaining, formatOptTime(c.PeriodEndsAt, "never"))
	}
	if t == nil {
		return nil
	}
	return t.flush()
}

// printLicenseModels prints, below the license table, when each license
// was activated and when checkpoint licenses stop unless renewed.
func printLicenseModels(e *env, lics []wire.LicenseResponse) error {
	for _, l := range lics {
		if l.ActivatedAt == nil {
			continue
		}
		fmt.Fprintf(e.stdout, "license %s activated %s", termSafe(l.ID), l.ActivatedAt.UTC().Format(time.RFC3339))
		for _, f := range l.Features {
			if f.Subscription != "" {
				fmt.Fprintf(e.stdout, ", %s: subscription %s of group %s", termSafe(f.Name), f.Subscription, termSafe(f.Group))
			}
		}
		if l.TechnicalExpiry != nil {
			fmt.Fprintf(e.stdout, ", technical expiry %s", l.TechnicalExpiry.UTC().Format(time.RFC3339))
			if l.RenewalURL != "" {
				fmt.Fprintf(e.stdout, ", renewed from %s", termSafe(l.RenewalURL))
			}
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}

// reportConsumption prints the units each client spent of each metered
// feature in its current period.
func reportConsumption(ctx context.Context, e *env, c *apiclient.Client, a *adminFlags, asCSV bool) error {
	rows, err := c.Consumptions(ctx)
	if err != nil {
		return err
	}
	switch {
	case a.json:
		return printJSON(e, wire.ConsumptionsResponse{Consumptions: rows})
	case asCSV:
		w := csv.NewWriter(e.stdout)
		w.Write([]string{"feature", "client", "user", "host", "used", "consumptions", "period_ends_at"})
		for _, r := range rows {
			w.Write([]string{r.Feature, r.Client.ID, r.Client.User, r.Client.Host, strconv.FormatInt(r.Used, 10), strconv.Itoa(r.Consumptions), formatOptTime(r.PeriodEndsAt, "")})
		}
		w.Flush()
		return w.Error()
	}
	t := newTable(e.stdout, "FEATURE", "CLIENT", "USER", "HOST", "USED", "CONSUMPTIONS", "PERIOD ENDS")
	for _, r := range rows {
		t.row(r.Feature, r.Client.ID, firstNonEmpty(r.Client.User, "-"), firstNonEmpty(r.Client.Host, "-"), r.Used, r.Consumptions, formatOptTime(r.PeriodEndsAt, "never"))
	}
	return t.flush()
}

// cmdVendorRenew signs a renewal of a checkpoint license.
func cmdVendorRenew(e *env, args []string) error {
	fs := newFlagSet(e, "vendor renew", "vendor renew --key vendor.key --license ID --until DATE [--out FILE [--force]]")
	keyPath := fs.String("key", "", "vendor private key `FILE`")
	id := fs.String("license", "", "`ID` of the license to renew")
	until := fs.String("until", "", "the last `DATE` (YYYY-MM-DD, through its end, UTC, or an RFC 3339 time) a server may load the renewal")
	out := fs.String("out", "", "write the renewal to `FILE` (default stdout); publish it as ID.renewal under the license's renewal_url")
	force := fs.Bool("force", false, "overwrite an existing --out file")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *id == "" || *until == "" {
		return usageErrorf("--key, --license and --until are required")
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	r := &usher.Renewal{LicenseID: *id, IssuedAt: time.Now()}
	if r.Until, err = parseDate(*until, true); err != nil {
		return usageErrorf("--until: %v", err)
	}
	text, err := usher.SignRenewal(r, priv)
	if err != nil {
		return err
	}
	return emitSigned(e, *out, *force, text, fmt.Sprintf("renewal of license %s until %s; publish it as %s under the license's renewal_url",
		r.LicenseID, r.Until.Format(time.RFC3339), usher.RenewalFileName(r.LicenseID)))
}

// withModelDefaults fills what a --feature spec may leave out: period none
// for a metered grant, the feature's name as a subscription's group.
func withModelDefaults(g usher.Grant) usher.Grant {
	if g.Meter.Consumption > 0 && g.Meter.Period == "" {
		g.Meter.Period = usher.PeriodNone
	}
	if g.Subscription.Length > 0 && g.Subscription.Group == "" {
		g.Subscription.Group = g.Feature
	}
	return g
}
