package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/usher-lm/usher/internal/config"
	"github.com/usher-lm/usher/internal/daemon"
)

// serverGCPercent is the server's garbage collection target unless GOGC
// is set.
const serverGCPercent = 50

// cmdServer runs the server until SIGINT or SIGTERM.
func cmdServer(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "fingerprint" {
		return cmdServerFingerprint(e, args[1:]) // fingerprint.go
	}
	if len(args) > 0 && args[0] == "example-config" {
		return cmdServerExampleConfig(e, args[1:]) // health.go
	}
	if len(args) > 0 && args[0] == "check" {
		cfg, err := loadServerConfig(e, "server check", args[1:])
		if err == nil {
			err = daemon.Check(cfg)
		}
		if err != nil {
			return fmt.Errorf("configuration is not valid: %w", err)
		}
		fmt.Fprintf(e.stdout, "configuration is valid (data %s)\n", cfg.Data)
		return nil
	}
	cfg, err := loadServerConfig(e, "server", args)
	if err != nil {
		return err
	}
	if e.getenv("GOGC") == "" {
		// Most of a busy server's memory is its leases, which live long:
		// collecting at half the live heap, not all of it, keeps a million
		// leases under 1 GiB for no throughput measurable here (see
		// docs/benchmarks.md). GOGC set in the environment wins.
		debug.SetGCPercent(serverGCPercent)
	}
	logger := daemon.NewLogger(cfg, e.stderr)
	defer logger.Close()
	d, err := daemon.Start(ctx, cfg, daemon.Options{
		Logger: logger.Logger, LogLevel: logger.Level, Version: Version,
		Reload: func() (daemon.Config, error) { return loadServerConfig(e, "server", args) },
	})
	if err != nil {
		return err
	}
	printBanner(e, cfg, d)
	if e.started != nil {
		e.started()
	}
	if err := serve(ctx, e, d, logger.Logger); err != nil || !d.RestartRequested() {
		return err
	}
	if e.reexec == nil {
		return errors.New("a restart was asked for, but this process cannot start itself again: start the server again")
	}
	logger.Logger.Info("restarting: starting this program again with the same arguments and environment")
	logger.Close() // the new process opens the log file again
	return e.reexec()
}

// serve waits for SIGINT or SIGTERM (ctx), a shutdown through the API
// (d.Done) or SIGHUP (reload), and stops the daemon gracefully.
func serve(ctx context.Context, e *env, d *daemon.Daemon, logger *slog.Logger) error {
	for {
		select {
		case <-e.hangup:
			res, err := d.Reload(ctx)
			if err != nil {
				logger.Error("reload on SIGHUP", "err", err)
				continue
			}
			for _, ch := range res.RestartRequired {
				logger.Warn("setting changed in the config but needs a restart", "key", ch.Key, "running", ch.Old, "config", ch.New)
			}
			continue
		case <-ctx.Done():
			logger.Info("shutting down")
		case <-d.Done():
		}
		if err := d.Close(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		logger.Info("stopped")
		return d.Err() // the hardware key went away, with crash_if_no_hardware_key

	}
}

// loadServerConfig builds the configuration: defaults, then the TOML file,
// then USHER_* environment variables, then flags (see docs/config.md).
func loadServerConfig(e *env, name string, args []string) (daemon.Config, error) {
	fs := newFlagSet(e, name, name+" [flags]")
	configPath := fs.String("config", "", "TOML config `FILE`")
	flags := config.BindFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return daemon.Config{}, err
	}
	if len(pos) > 0 {
		return daemon.Config{}, usageErrorf("unexpected argument %q", pos[0])
	}
	cfg, err := config.Load(config.Sources{File: *configPath, Env: e.getenv, Flags: flags})
	if err != nil {
		return cfg, err
	}
	if cfg.Dev {
		if err := daemon.PrepareDev(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

func printBanner(e *env, cfg daemon.Config, d *daemon.Daemon) {
	url := d.URL()
	fmt.Fprintf(e.stderr, "\nUsher is serving licenses at %s\n", url)
	if host, port, err := net.SplitHostPort(cfg.Listen[0]); err == nil && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()) {
		found := ""
		if cfg.Discovery {
			found = ", and other hosts find it with usher discover"
		}
		fmt.Fprintf(e.stderr, "(that is this host; it listens on every interface, port %s%s)\n", port, found)
	}
	if cfg.IsRelay() {
		fmt.Fprintf(e.stderr, "It is a relay of %s: its seats come from blocks of seats it holds there (docs/relay.md)\n", cfg.Upstream.String())
	}
	fmt.Fprintf(e.stderr, "Admin token: in %s (mode 0600; the CLI reads it with --data %s)\n", d.TokenPath(), cfg.Data)
	printSecurityBanner(e, cfg, d)
	if !cfg.Dev {
		fmt.Fprintln(e.stderr)
		return
	}
	fmt.Fprintf(e.stderr, "Dev mode: a dev vendor key and a demo license (feature %q, %d seats), kept in %s between runs: delete it for a fresh start\n\nTry:\n", daemon.DevFeature, daemon.DevSeats, cfg.Data)
	fmt.Fprintf(e.stderr, "  curl -s %s/v1/features\n", url)
	fmt.Fprintf(e.stderr, "  curl -s -X POST %s/v1/leases -d '{\"feature\":\"%s\",\"client\":{\"id\":\"try-1\",\"user\":\"me\"}}'\n", url, daemon.DevFeature)
	fmt.Fprintf(e.stderr, "  curl -s -H \"Authorization: Bearer $(cat %s)\" %s/v1/leases\n\n", d.TokenPath(), url)
}
