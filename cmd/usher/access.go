package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// secretFlags are the Licensee Secret flags of usher vendor issue.
type secretFlags struct{ mode, hash string }

func (s *secretFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.mode, "licensee-secret", "", "Licensee Secret `MODE`: disabled, predefined (with --secret-hash) or client (binds to the first secret a checkout presents)")
	fs.StringVar(&s.hash, "secret-hash", "", "for --licensee-secret predefined: the secret's `sha256:HEX` (printf %s SECRET | sha256sum)")
}

func (s *secretFlags) apply(lic *usher.License) error {
	if s.hash != "" && s.mode == "" {
		return usageErrorf("--secret-hash goes with --licensee-secret predefined")
	}
	lic.LicenseeSecret, lic.SecretHash = s.mode, s.hash
	return nil
}

// cmdVendorUnbind writes the signed file that lifts a license's Licensee
// Secret binding.
func cmdVendorUnbind(e *env, args []string) error {
	fs := newFlagSet(e, "vendor unbind", "vendor unbind --license ID --key vendor.key [--valid 720h] [--out FILE [--force]]")
	id := fs.String("license", "", "the `ID` of the license to unbind")
	keyPath := fs.String("key", "", "vendor private key `FILE` (the one that signed the license)")
	valid := fs.Duration("valid", usher.DefaultUnbindValidity, "how long the customer may load the file, `DURATION`")
	out := fs.String("out", "", "write the unbind file to `FILE` (default stdout)")
	force := fs.Bool("force", false, "overwrite an existing --out file")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id == "" || *keyPath == "" {
		return usageErrorf("--license and --key are required")
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	now := time.Now()
	text, err := usher.SignUnbind(&usher.Unbind{LicenseID: *id, IssuedAt: now, ExpiresAt: now.Add(*valid)}, priv)
	if err != nil {
		return err
	}
	return emitSigned(e, *out, *force, text, fmt.Sprintf("it unbinds license %s once, until %s", *id, now.Add(*valid).UTC().Format(time.RFC3339)))
}

// secretText is what usher license list shows of a license's secret.
func secretText(l wire.LicenseResponse) string {
	switch {
	case l.LicenseeSecret == "" && l.SecretBoundAt == nil:
		return "-"
	case l.SecretBoundAt != nil:
		return firstNonEmpty(l.LicenseeSecret, usher.SecretDisabled) + ", bound"
	}
	return l.LicenseeSecret
}

func cmdAssign(ctx context.Context, e *env, args []string) error {
	var list bool
	c, a, pos, err := adminCommandWith(e, "assign", "assign FEATURE USER... | assign --list FEATURE [--json]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&list, "list", false, "list the users registered for FEATURE")
	})
	if err != nil {
		return err
	}
	if list {
		if len(pos) != 1 {
			return usageErrorf("--list wants exactly one feature")
		}
		out, err := c.FeatureUsers(ctx, pos[0])
		if err != nil {
			return err
		}
		return printRegistrations(e, a.json, out)
	}
	if len(pos) < 2 {
		return usageErrorf("want a feature and at least one user")
	}
	out, err := c.Assign(ctx, pos[0], pos[1:])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, out)
	}
	fmt.Fprintf(e.stdout, "registered for %s: %s\n", termSafe(pos[0]), usersText(out.Users, "nobody new"))
	return nil
}

func cmdUnassign(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "unassign", "unassign FEATURE USER... [--json]", args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErrorf("want a feature and at least one user")
	}
	out, err := c.Unassign(ctx, pos[0], pos[1:])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, out)
	}
	fmt.Fprintf(e.stdout, "unregistered from %s: %s\n", termSafe(pos[0]), usersText(out.Users, "nobody (none of them was registered)"))
	return nil
}

func usersText(regs []usher.Registration, none string) string {
	if len(regs) == 0 {
		return none
	}
	names := make([]string, len(regs))
	for i, r := range regs {
		names[i] = termSafe(r.User)
	}
	return strings.Join(names, ", ")
}

func printRegistrations(e *env, asJSON bool, out wire.FeatureUsersResponse) error {
	if asJSON {
		return printJSON(e, out)
	}
	t := newTable(e.stdout, "USER", "REGISTERED", "LAST CHECKOUT")
	for _, r := range out.Users {
		last := "never"
		if !r.LastCheckoutAt.IsZero() {
			last = r.LastCheckoutAt.Local().Format(time.DateTime)
		}
		t.row(r.User, r.RegisteredAt.Local().Format(time.DateTime), last)
	}
	return t.flush()
}
