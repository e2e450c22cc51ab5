package main

import (
	"context"
	"fmt"
	"os"

	"github.com/usher-lm/usher/internal/winsvc"
)

// cmdService installs, removes, starts and stops the server as a Windows
// service, and is what the service control manager runs ("service run").
func cmdService(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("usher service install|uninstall|start|stop|run: say what to do")
	}
	verb := args[0]
	fs := newFlagSet(e, "service "+verb, "service "+verb+" [--name NAME] [--config FILE] [--data DIR] [--log-file FILE]")
	c := winsvc.InstallConfig{}
	fs.StringVar(&c.Name, "name", winsvc.DefaultName, "the service's `NAME`")
	if verb == "install" {
		fs.StringVar(&c.Config, "config", "", "the server's TOML config `FILE`")
		fs.StringVar(&c.Data, "data", "", "the server's data `DIR`")
		fs.StringVar(&c.LogFile, "log-file", "", "the server's log `FILE` (default usher.log in the data directory)")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch verb {
	case "install":
		if len(pos) > 0 {
			return usageErrorf("unexpected argument %q", pos[0])
		}
		if c.Exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find this program's path: %w", err)
		}
		if err := winsvc.Install(c); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "installed service %s: start it with usher service start --name %s\n", c.Name, c.Name)
		return nil
	case "uninstall", "start", "stop":
		if len(pos) > 0 {
			return usageErrorf("unexpected argument %q", pos[0])
		}
		do := map[string]func(string) error{"uninstall": winsvc.Uninstall, "start": winsvc.Start, "stop": winsvc.Stop}[verb]
		if err := do(c.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "service %s: %s done\n", c.Name, verb)
		return nil
	case "run":
		// The service control manager starts "usher service run --name N
		// server ARGS...": run the server under it.
		if len(pos) == 0 || pos[0] != "server" {
			return usageErrorf("service run is started by the service control manager as: service run --name NAME server [flags]")
		}
		return winsvc.Run(c.Name, func(ctx context.Context, started func()) error {
			se := *e
			se.started = started
			se.reexec = nil // the service control manager restarts a service that exits with an error
			return cmdServer(ctx, &se, pos[1:])
		})
	}
	return usageErrorf("unknown service command %q: use install, uninstall, start or stop", verb)
}
