package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

func cmdInfo(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "info", "info [--json]", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, info)
	}
	t := newTable(e.stdout)
	t.row("version", info.Version+" ("+info.GoVersion+")")
	t.row("started", info.StartedAt.Local().Format("2006-01-02 15:04:05")+" (up "+info.Uptime+")")
	t.row("hostname", info.Hostname)
	t.row("hardware id", info.HardwareID)
	t.row("hardware key", info.HardwareKey)
	t.row("data dir", info.DataDir)
	t.row()
	t.row("configuration:")
	keys := make([]string, 0, len(info.Config))
	for k := range info.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.row("  "+k, info.Config[k])
	}
	return t.flush()
}

func cmdConfig(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: get, set or reset")
	}
	c, a, pos, err := adminCommand(e, "config "+args[0], "config get [KEY] | set KEY VALUE ... | reset KEY ... [--json]", args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "get":
		return configGet(ctx, e, a, c, pos)
	case "set":
		if len(pos) == 0 || len(pos)%2 != 0 {
			return usageErrorf("want KEY VALUE pairs, like: usher config set keepalive_timeout 120s")
		}
		set := map[string]string{}
		for i := 0; i < len(pos); i += 2 {
			set[pos[i]] = pos[i+1]
		}
		return configChange(ctx, e, a, c, wire.SettingsRequest{Set: set})
	case "reset":
		if len(pos) == 0 {
			return usageErrorf("want the keys to reset to the config file's value")
		}
		return configChange(ctx, e, a, c, wire.SettingsRequest{Reset: pos})
	}
	return usageErrorf("unknown subcommand %q: want get, set or reset", args[0])
}

// configGet prints the runtime settings, or one key of the effective
// configuration.
func configGet(ctx context.Context, e *env, a *adminFlags, c *apiclient.Client, pos []string) error {
	if len(pos) > 1 {
		return usageErrorf("want at most one key")
	}
	if len(pos) == 1 {
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		v, ok := info.Config[pos[0]]
		if !ok {
			return fmt.Errorf("unknown key %q: usher info lists every key", pos[0])
		}
		if a.json {
			return printJSON(e, map[string]string{pos[0]: v})
		}
		fmt.Fprintln(e.stdout, termSafe(v))
		return nil
	}
	settings, err := c.Settings(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"settings": settings})
	}
	return printSettings(e, settings)
}

func printSettings(e *env, settings []wire.Setting) error {
	t := newTable(e.stdout, "KEY", "VALUE", "SOURCE")
	for _, s := range settings {
		t.row(s.Key, s.Value, s.Source)
	}
	return t.flush()
}

func configChange(ctx context.Context, e *env, a *adminFlags, c *apiclient.Client, req wire.SettingsRequest) error {
	res, err := c.ChangeSettings(ctx, req)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, res)
	}
	if len(res.Changed) == 0 {
		fmt.Fprintln(e.stdout, "nothing changed")
	}
	for _, ch := range res.Changed {
		fmt.Fprintf(e.stdout, "%s: %s -> %s\n", termSafe(ch.Key), termSafe(ch.Old), termSafe(ch.New))
	}
	return nil
}

func cmdReload(ctx context.Context, e *env, args []string) error {
	c, a, _, err := adminCommand(e, "reload", "reload [--json]", args)
	if err != nil {
		return err
	}
	res, err := c.Reload(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, res)
	}
	if len(res.Applied)+len(res.RestartRequired) == 0 {
		fmt.Fprintln(e.stdout, "configuration reloaded: nothing changed")
	}
	for _, ch := range res.Applied {
		fmt.Fprintf(e.stdout, "applied %s: %s -> %s\n", termSafe(ch.Key), termSafe(ch.Old), termSafe(ch.New))
	}
	for _, ch := range res.RestartRequired {
		fmt.Fprintf(e.stdout, "restart needed for %s: %s -> %s\n", termSafe(ch.Key), termSafe(ch.Old), termSafe(ch.New))
	}
	return nil
}

func cmdRestart(ctx context.Context, e *env, args []string) error {
	c, a, _, err := adminCommand(e, "restart", "restart [--json]", args)
	if err != nil {
		return err
	}
	if err := c.Restart(ctx); err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]string{"status": "restarting"})
	}
	fmt.Fprintln(e.stdout, "the server is restarting: leases are kept, and clients carry on once it answers again")
	return nil
}

func cmdShutdown(ctx context.Context, e *env, args []string) error {
	c, a, _, err := adminCommand(e, "shutdown", "shutdown [--json]", args)
	if err != nil {
		return err
	}
	if err := c.Shutdown(ctx); err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]string{"status": "shutting down"})
	}
	fmt.Fprintln(e.stdout, "the server is shutting down")
	return nil
}
