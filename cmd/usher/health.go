package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/usher-lm/usher/internal/config"
)

// cmdHealth asks a server's /healthz and succeeds when it answers, for
// container health checks, supervisors and scripts. It needs no
// credential.
func cmdHealth(ctx context.Context, e *env, args []string) error {
	var timeout time.Duration
	c, a, pos, err := adminCommandWith(e, "health", "health [--server URL] [--timeout 5s]", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this `DURATION`")
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: health takes none", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Health(ctx); err != nil {
		return fmt.Errorf("server %s is not healthy: %w", c.Server(), err)
	}
	if a.json {
		return printJSON(e, map[string]string{"status": "ok", "server": c.Server()})
	}
	fmt.Fprintln(e.stdout, "ok", c.Server())
	return nil
}

// cmdServerExampleConfig prints a configuration file naming every key
// with its default, commented out; each --set KEY=VALUE is written as a
// setting. Packages install its output as /etc/usher/usher.toml.
func cmdServerExampleConfig(e *env, args []string) error {
	fs := newFlagSet(e, "server example-config", "server example-config [--set KEY=VALUE]...")
	set := map[string]string{}
	fs.Func("set", "write `KEY=VALUE` as a setting instead of a comment (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q is not KEY=VALUE", s)
		}
		set[k] = v
		return nil
	})
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: example-config takes none", pos[0])
	}
	return config.WriteExample(e.stdout, set)
}
