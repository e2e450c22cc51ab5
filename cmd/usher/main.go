// Command usher is the Usher floating license server, its admin CLI and
// the vendor's signing tools, in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	usher "github.com/usher-lm/usher"
)

// Version, Commit and BuildDate are set at build time with -ldflags
// "-X main.Version=... -X main.Commit=... -X main.BuildDate=..." (make
// dist does); a plain go build leaves Version "dev" and takes the commit
// and its time from the build's VCS stamp, when there is one.
var (
	Version   = "dev"
	Commit    = ""
	BuildDate = ""
)

const usage = `usher: floating software license server

Usage:
  usher server [flags]              run the license server (--dev to try it)
  usher server check --config FILE  validate a config file and exit
  usher server fingerprint          the server key and host fingerprint to bind licenses to
  usher server example-config       a config file with every key and its default
  usher vendor keygen --out DIR     create a vendor signing key
  usher vendor issue [flags]        sign a license file
  usher vendor rehost [flags]       issue a released license for a new server
  usher license add FILE            load a license into the server
  usher license list                list loaded licenses
  usher license remove ID           unload a license
  usher license release ID          give a license up to move it; prints a receipt
  usher license unbind FILE         lift a Licensee Secret binding (vendor's unbind file)
  usher license renew FILE          load a checkpoint renewal by hand (air-gapped sites)
  usher vendor renew --key vendor.key --license ID --until DATE
                                    sign a checkpoint renewal for a license
  usher vendor unbind --license ID --key vendor.key
                                    sign an unbind file for a bound license
  usher status                      seats per feature
  usher leases                      live leases
  usher kick LEASE_ID               free a seat at once
  usher login [--user NAME]         log in; later commands use the saved token
  usher logout                      forget the saved token for --server
  usher passwd                      change your own password (after usher login)
  usher user add|remove|passwd|list manage users (admin, monitor, client)
  usher token create|list|revoke    manage API tokens for automation
  usher kick --user U (--host, --feature, --client) [--ban 10m]
                                    free every seat of a user, host, ...
  usher kick --all                  free every seat
  usher assign FEATURE USER...      register users of a users=named feature
  usher unassign FEATURE USER...    unregister them; assign --list FEATURE lists
  usher bans | unban BAN_ID         list or lift the bans of kick --ban
  usher events [--follow]           the event log; --follow streams it
  usher webhooks add|list|remove|log|redeliver
                                    send events to HTTP endpoints (docs/webhooks.md)
  usher report --from 24h [--csv]   usage history: peak, checkouts, denials
  usher report --consumption        units each client spent of metered features
  usher info                        version, uptime, hardware id, config
  usher config get|set|reset        runtime settings (keep-alive, ...)
  usher reload                      re-read the server's config and policy (or SIGHUP)
  usher policy show|set FILE        the policy in force: groups, reserve, max, ...
  usher policy check FILE [--since 24h]
                                    who a policy would have denied, by which rule
  usher shutdown                    stop the server gracefully
  usher restart                     stop it gracefully and start it again, same config
  usher bench --spawn --scenario S  load a server and report throughput and latency
  usher cluster status              members, deciding node, raft lag
  usher service install|uninstall|start|stop
                                    run the server as a Windows service
  usher discover [--scan CIDR] [--watch]
                                    list the servers on the LAN, or their announcements
  usher health [--server URL]       exit 0 when the server answers (for health checks)
  usher version                     print the version, commit and build date

Run "usher COMMAND -h" for the flags of a command.
`

// env is what a command may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	hangup         <-chan os.Signal // SIGHUP: the server reloads its config; nil in tests
	// reexec replaces the process with the same program, arguments and
	// environment, for a restart asked for through the API; nil where
	// the process may not (in tests that run the server in process).
	reexec func() error
	// started, if set, is called once the server serves (the Windows
	// service reports itself running then).
	started func()
}

type command func(ctx context.Context, e *env, args []string) error

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, hangup: hup, reexec: reexec})
	signal.Stop(hup)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	commands := map[string]command{
		"server":   cmdServer,
		"vendor":   cmdVendor,
		"license":  cmdLicense,
		"status":   cmdStatus,
		"leases":   cmdLeases,
		"kick":     cmdKick,
		"assign":   cmdAssign,
		"unassign": cmdUnassign,
		"restart":  cmdRestart,
		"passwd":   cmdPasswd,
		"bans":     cmdBans,
		"unban":    cmdUnban,
		"events":   cmdEvents,
		"report":   cmdReport,
		"info":     cmdInfo,
		"config":   cmdConfig,
		"reload":   cmdReload,
		"policy":   cmdPolicy,
		"shutdown": cmdShutdown,
		"login":    cmdLogin,
		"logout":   cmdLogout,
		"user":     cmdUser,
		"token":    cmdToken,
		"bench":    cmdBench,
		"cluster":  cmdCluster,
		"version":  cmdVersion,
		"health":   cmdHealth,
		"service":  cmdService,
		"discover": cmdDiscover,
		"webhooks": cmdWebhooks,
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "usher: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "usher %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "usher %s: %s\n", args[0], errorText(err))
		return 1
	}
}

// errorText prefers the server's message and code for coded errors.
func errorText(err error) string {
	var ue *usher.Error
	if errors.As(err, &ue) && ue.Code != usher.EInternal {
		return termSafe(fmt.Sprintf("%v (%s)", err, ue.Code)) // the message may echo what a client sent
	}
	return err.Error()
}

// errUsage marks errors in how a command was called.
var errUsage = errors.New("usage")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// parseFlags parses flags that may come before or after the positional
// arguments, and returns the positional ones. A bad flag is an error that
// comes first and alone, with the nearest flag name and a pointer to
// --help, rather than after the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, err
			}
			return nil, flagError(fs, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// cmdVersion prints the version, as text or, with --json, as
// {"version": ...}.
func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "version [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: version takes none", pos[0])
	}
	b := readBuild()
	if *asJSON {
		return printJSON(e, b)
	}
	fmt.Fprintf(e.stdout, "usher %s (commit %s, built %s, %s, %s/%s)\n", b.Version, firstNonEmpty(b.Commit, "unknown"), firstNonEmpty(b.BuildDate, "unknown"), b.Go, b.OS, b.Arch)
	return nil
}

// build is what usher version prints.
type build struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	Go        string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CGO       bool   `json:"cgo"`
}

// readBuild returns the version stamped at build time, filling the commit
// and date from the Go toolchain's VCS stamp when the linker set none.
func readBuild() build {
	b := build{Version: Version, Commit: Commit, BuildDate: BuildDate, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && b.Commit == "":
			b.Commit = s.Value
		case s.Key == "vcs.time" && b.BuildDate == "":
			b.BuildDate = s.Value
		case s.Key == "CGO_ENABLED":
			b.CGO = s.Value == "1"
		}
	}
	return b
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: usher %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
