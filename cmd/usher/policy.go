package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/usher-lm/usher/internal/wire"
)

const policySynopsis = "policy show | set FILE | check FILE [--since 24h] [--json]"

// cmdPolicy shows, sets and dry-runs the server's policy (docs/policies.md).
func cmdPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: show, set or check")
	}
	switch args[0] {
	case "show":
		return policyShow(ctx, e, args[1:])
	case "set":
		return policySet(ctx, e, args[1:])
	case "check":
		return policyCheck(ctx, e, args[1:])
	}
	return usageErrorf("unknown subcommand %q: want show, set or check", args[0])
}

func policyShow(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "policy show", policySynopsis, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	p, err := c.Policy(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, p)
	}
	fmt.Fprintf(e.stdout, "# source: %s, %s\n", p.Source, countNoun(len(p.Rules), "rule", "rules"))
	for _, line := range strings.SplitAfter(p.Policy, "\n") {
		if line != "" {
			fmt.Fprintln(e.stdout, termSafe(strings.TrimSuffix(line, "\n")))
		}
	}
	return nil
}

func policySet(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "policy set", policySynopsis, args)
	if err != nil {
		return err
	}
	text, err := policyFileArg(pos)
	if err != nil {
		return err
	}
	p, err := c.SetPolicy(ctx, text)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, p)
	}
	fmt.Fprintf(e.stdout, "policy in force: %s\n", countNoun(len(p.Rules), "rule", "rules"))
	for _, r := range p.Added {
		fmt.Fprintf(e.stdout, "+ %s\n", termSafe(r))
	}
	for _, r := range p.Removed {
		fmt.Fprintf(e.stdout, "- %s\n", termSafe(r))
	}
	return nil
}

func policyCheck(ctx context.Context, e *env, args []string) error {
	var since string
	c, a, pos, err := adminCommandWith(e, "policy check", policySynopsis, args, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "24h", "replay the checkouts recorded in the last `DURATION`")
	})
	if err != nil {
		return err
	}
	text, err := policyFileArg(pos)
	if err != nil {
		return err
	}
	res, err := c.CheckPolicy(ctx, wire.PolicyCheckRequest{Policy: string(text), Since: since})
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, res)
	}
	fmt.Fprintf(e.stdout, "%d checkouts replayed (the last %s, and the leases held now): %d would be denied\n", res.Checked, since, len(res.Denials))
	if len(res.Denials) == 0 {
		return nil
	}
	t := newTable(e.stdout)
	t.row("TIME", "SOURCE", "FEATURE", "USER", "HOST", "RULE")
	for _, d := range res.Denials {
		t.row(d.Time.Local().Format("2006-01-02 15:04:05"), d.Source, termSafe(d.Feature), termSafe(d.Client.User), termSafe(d.Client.Host), termSafe(d.Rule))
	}
	return t.flush()
}

// policyFileArg reads the one FILE argument.
func policyFileArg(pos []string) ([]byte, error) {
	if len(pos) != 1 {
		return nil, usageErrorf("want one policy FILE")
	}
	text, err := os.ReadFile(pos[0])
	if err != nil {
		return nil, fmt.Errorf("read the policy: %w", err)
	}
	return text, nil
}

// countNoun returns n and the noun in the number n takes: "1 rule", "2 rules".
func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
