package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/usher-lm/usher/internal/bench"
)

// cmdBench loads a server and reports throughput and latency.
func cmdBench(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench", "bench (--server URL | --spawn) --scenario NAME [flags]")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: usher bench (--server URL | --spawn) --scenario NAME [flags]\n\nScenarios:\n")
		for _, s := range bench.Scenarios() {
			fmt.Fprintf(e.stderr, "  %-17s %s\n", s[0], s[1])
		}
		fmt.Fprintf(e.stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg bench.Config
	fs.StringVar(&cfg.Server, "server", "", "load the server at `URL` (default $USHER_SERVER)")
	fs.StringVar(&cfg.Token, "token", "", "send this admin `TOKEN` with each request, which makes releases count as kicks (default $USHER_TOKEN)")
	fs.BoolVar(&cfg.Spawn, "spawn", false, "start a throwaway server with an embedded store in a temporary directory")
	fs.BoolVar(&cfg.SpawnProcess, "spawn-process", false, "run the spawned server as a child process for every scenario (hold and restart always do)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`PID` of the --server process on this host, so hold can report its memory and CPU")
	fs.StringVar(&cfg.Scenario, "scenario", bench.CheckoutRelease, "scenario `NAME` (see above)")
	fs.IntVar(&cfg.Clients, "clients", bench.DefaultClients, "simulated clients `N`, each with its own client id")
	fs.IntVar(&cfg.Workers, "workers", 0, "concurrent requests and connections `N` (default min(clients, 256))")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long the measured phase runs")
	fs.Int64Var(&cfg.MaxOps, "max-ops", bench.DefaultMaxOps, "stop after `N` operations even before --duration")
	fs.DurationVar(&cfg.SetupTimeout, "setup-timeout", bench.DefaultSetupTimeout, "bound on taking the leases before hold, heartbeat and restart")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: `R` operations per second in total, latency counted from when each was due (default closed loop)")
	fs.IntVar(&cfg.Seats, "seats", 0, "seats `N` of the spawned server's license (default --clients)")
	fs.StringVar(&cfg.Feature, "feature", bench.DefaultFeature, "feature `NAME` to check out")
	fs.DurationVar(&cfg.Keepalive, "keepalive", bench.DefaultKeepalive, "keep-alive timeout of the spawned server")
	fs.DurationVar(&cfg.Interval, "interval", 0, "hold: heartbeat interval per lease (default the server's)")
	attacks := fs.String("attack", "", "checkout-release only: measure it also beside each `ATTACK` of a comma-separated list: "+bench.AttackLogin+" (a flood of wrong logins), "+bench.AttackSlowloris+" (connections sending their bodies a byte a second)")
	fs.StringVar(&cfg.AttackFrom, "attack-from", bench.DefaultAttackFrom, "send the attack from this `ADDRESS` of this host, or from the addresses of a prefix like 127.0.1.0/24 in turn")
	fs.IntVar(&cfg.AttackConns, "attack-conns", 0, fmt.Sprintf("connections `N` of the attack (default %d for login, %d for slowloris)", bench.DefaultLoginFlood, bench.DefaultSlowConns))
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (load generator and an in-process server) to `FILE`")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *attacks != "" {
		cfg.Attacks = strings.Split(*attacks, ",")
	}
	if !cfg.Spawn && cfg.Server == "" {
		cfg.Server, _, _ = strings.Cut(e.getenv("USHER_SERVER"), ",")
	}
	if cfg.Token == "" {
		cfg.Token = e.getenv("USHER_TOKEN")
	}
	if cfg.Server != "" && !strings.Contains(cfg.Server, "://") {
		cfg.Server = "http://" + cfg.Server
	}
	if exe, err := os.Executable(); err == nil {
		cfg.ServerCommand = []string{exe, "server"}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !*asJSON && isTerminal(e.stderr) {
		cfg.Progress = e.stderr
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return bench.WriteJSON(e.stdout, res)
	}
	return bench.WriteTable(e.stdout, res)
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
