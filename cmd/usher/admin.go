package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/wire"
)

// defaultServer is where the CLI looks when nothing says otherwise.
const defaultServer = "http://127.0.0.1:7420"

// adminFlags are the connection flags every admin command takes.
type adminFlags struct {
	server, token, data string
	fingerprint         string
	json                bool
	credential          string // the token client sends, from wherever it came
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.server, "server", "", "server `URL` (default $USHER_SERVER, else "+defaultServer+")")
	fs.StringVar(&a.token, "token", "", "admin `TOKEN` (default $USHER_TOKEN, else the token file in --data)")
	fs.StringVar(&a.data, "data", "", "the server's data `DIR`, to read its admin token when on the server's host")
	fs.StringVar(&a.fingerprint, "tls-fingerprint", "", "trust the HTTPS server whose certificate has this SHA-256 `FINGERPRINT` (default $USHER_TLS_FINGERPRINT)")
	fs.BoolVar(&a.json, "json", false, "print JSON")
}

// client resolves the servers and the token: flags, then the environment,
// then the token file of --data, then the token of "usher login" for one
// of the servers, then dev mode's token file, but only when every server
// is the dev server's address (loopback on the dev port), so the dev token
// never travels to another server. The client asks the servers in turn,
// moving to the next while one is unreachable.
func (a *adminFlags) client(e *env) (*apiclient.Client, error) {
	servers := a.servers(e)
	token, source := a.token, "--token"
	if token == "" {
		token, source = e.getenv("USHER_TOKEN"), "USHER_TOKEN"
	}
	if token == "" && a.data == "" {
		token, source = storedLogin(e, servers), "the login saved by usher login"
	}
	if token == "" && (a.data != "" || devServers(servers)) {
		dir := a.data
		if dir == "" {
			dir = daemon.DevDataDir()
		}
		path := filepath.Join(dir, daemon.TokenFile)
		data, err := os.ReadFile(path)
		if err != nil && a.data != "" {
			return nil, fmt.Errorf("read admin token: %w", err)
		}
		token, source = strings.TrimSpace(string(data)), path
		if a.data == "" {
			source += ", dev mode's data directory; give --data, --token or USHER_TOKEN for another server"
		}
	}
	a.credential = token
	return apiclient.New(apiclient.Config{Servers: servers, Token: token, TokenSource: source, NoTokenHint: noTokenHint, TLSFingerprint: a.tlsFingerprint(e)})
}

// noTokenHint tells a CLI user who sent no credential the ways to give one.
const noTokenHint = "no token was sent: on the server's host give --data DIR to use its admin.token, or give --token or USHER_TOKEN, or run usher login"

// devServers reports whether every server is dev mode's address: a
// loopback host on the port of daemon.DevListen.
func devServers(servers []string) bool {
	_, devPort, _ := net.SplitHostPort(daemon.DevListen)
	for _, s := range servers {
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Port() != devPort {
			return false
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return len(servers) > 0
}

// servers returns the servers to ask, in order: --server, else
// USHER_SERVER, else defaultServer; a list is comma-separated.
func (a *adminFlags) servers(e *env) []string {
	var out []string
	for _, s := range strings.Split(firstNonEmpty(a.server, e.getenv("USHER_SERVER"), defaultServer), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{defaultServer}
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// adminCommand parses the common flags and returns the client and the
// positional arguments.
func adminCommand(e *env, name, synopsis string, args []string) (*apiclient.Client, *adminFlags, []string, error) {
	return adminCommandWith(e, name, synopsis, args, nil)
}

// adminCommandWith is adminCommand for a command with flags of its own,
// which extra registers.
func adminCommandWith(e *env, name, synopsis string, args []string, extra func(*flag.FlagSet)) (*apiclient.Client, *adminFlags, []string, error) {
	var a adminFlags
	fs := newFlagSet(e, name, synopsis)
	a.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := a.client(e)
	return c, &a, pos, err
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	c, a, _, err := adminCommand(e, "status", "status [--json]", args)
	if err != nil {
		return err
	}
	features, err := c.Features(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"features": features})
	}
	t := newTable(e.stdout, "FEATURE", "SEATS", "IN USE", "FREE", "QUEUED", "BORROWED", "STATE", "EXPIRES")
	for _, f := range features {
		seats, free := fmt.Sprint(f.Seats), fmt.Sprint(f.Free())
		if f.Unlimited {
			seats, free = "unlimited", "unlimited"
		}
		t.row(f.Name, seats, f.InUse, free, f.Queued, f.Borrowed, f.State, formatOptTime(f.ExpiresAt, "never"))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if err := noteClockTampered(e, features); err != nil {
		return err
	}
	return printConsumptionStatus(e, features) // meter.go
}

func formatOptTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func cmdLeases(ctx context.Context, e *env, args []string) error {
	c, a, _, err := adminCommand(e, "leases", "leases [--json]", args)
	if err != nil {
		return err
	}
	leases, err := c.Leases(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"leases": leases})
	}
	t := newTable(e.stdout, "ID", "FEATURE", "USER", "HOST", "PID", "SEATS", "CHECKED OUT", "LAST HEARTBEAT", "EXPIRES")
	for _, l := range leases {
		t.row(l.ID, l.Feature, l.Client.User, l.Client.Host, l.Client.PID, leaseSeats(l),
			l.IssuedAt.Local().Format(time.DateTime), l.LastHeartbeat.Local().Format(time.TimeOnly), leaseEnd(l))
	}
	return t.flush()
}

// noteClockTampered says why features show clock_tampered, if any does.
func noteClockTampered(e *env, features []usher.FeatureStatus) error {
	for _, f := range features {
		if f.State == usher.FeatureClockTampered {
			_, err := fmt.Fprintln(e.stdout, "\nThe server's clock is behind a time it has already seen: features with dates are refused\n(clock_tampered) until it is set right. See usher events --type clock_tampered.")
			return err
		}
	}
	return nil
}

func cmdLicense(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: add, list, remove, release, renew or unbind")
	}
	if args[0] == "release" {
		return cmdLicenseRelease(ctx, e, args[1:]) // rehost.go
	}
	c, a, pos, err := adminCommand(e, "license "+args[0], "license add FILE | list | remove ID | release ID | renew FILE | unbind FILE [--json]", args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "add":
		if len(pos) != 1 {
			return usageErrorf("want exactly one license file")
		}
		text, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		lic, err := c.AddLicense(ctx, text)
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		return printLicense(e, a, "added", lic)
	case "list":
		list, err := c.LicenseList(ctx)
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(e, list)
		}
		if err := printLicenseTable(e, list.Licenses); err != nil {
			return err
		}
		for _, r := range list.Refused {
			fmt.Fprintf(e.stdout, "refused license %s (%s), not served: %s\n", termSafe(r.ID), r.Code, termSafe(r.Reason))
		}
		for _, r := range list.Released {
			fmt.Fprintf(e.stdout, "released license %s at %s: never loaded here again\n", termSafe(r.ID), r.ReleasedAt.Format(time.RFC3339))
		}
		return nil
	case "remove":
		if len(pos) != 1 {
			return usageErrorf("want exactly one license id")
		}
		lic, err := c.RemoveLicense(ctx, pos[0])
		if err != nil {
			return err
		}
		return printLicense(e, a, "removed", lic)
	case "renew":
		// For servers that cannot reach the vendor's renewal URL.
		return sendSignedFile(ctx, e, a, pos, "renewal file (usher vendor renew makes it)", c.Renew, func(r wire.RenewalResponse) string {
			return fmt.Sprintf("renewed license %s: technical expiry %s (renewal valid until %s)", termSafe(r.LicenseID),
				r.TechnicalExpiry.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))
		})
	case "unbind":
		return sendSignedFile(ctx, e, a, pos, "unbind file (usher vendor unbind makes it)", c.Unbind, func(r wire.UnbindResponse) string {
			return fmt.Sprintf("license %s is unbound (it was bound on %s): the next checkout that presents a secret binds it again",
				termSafe(r.LicenseID), r.BoundAt.Local().Format(time.DateTime))
		})
	}
	return usageErrorf("unknown subcommand %q: want add, list, remove, release, renew or unbind", args[0])
}

// sendSignedFile reads the one vendor-signed file of pos, sends it and
// prints the answer: as JSON with --json, else what say makes of it.
func sendSignedFile[T any](ctx context.Context, e *env, a *adminFlags, pos []string, what string, send func(context.Context, []byte) (T, error), say func(T) string) error {
	if len(pos) != 1 {
		return usageErrorf("want exactly one %s", what)
	}
	text, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	out, err := send(ctx, text)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if a.json {
		return printJSON(e, out)
	}
	fmt.Fprintln(e.stdout, say(out))
	return nil
}

func printLicense(e *env, a *adminFlags, verb string, lic wire.LicenseResponse) error {
	if a.json {
		return printJSON(e, lic)
	}
	fmt.Fprintf(e.stdout, "%s license %s for %s:", verb, termSafe(lic.ID), termSafe(lic.Licensee))
	for _, f := range lic.Features {
		fmt.Fprintf(e.stdout, " %s=%s", termSafe(f.Name), seatsText(f))
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func seatsText(f wire.GrantResponse) string {
	seats := fmt.Sprint(f.Seats)
	if f.Unlimited {
		seats = "unlimited"
	}
	if f.Users != "" {
		seats += " (users=" + f.Users + ")"
	}
	return seats
}

func printLicenseTable(e *env, lics []wire.LicenseResponse) error {
	t := newTable(e.stdout, "ID", "LICENSEE", "ISSUED", "FEATURE", "SEATS", "STARTS", "EXPIRES", "SECRET")
	for _, l := range lics {
		for _, f := range l.Features {
			t.row(l.ID, l.Licensee, l.IssuedAt.Format(time.DateOnly), f.Name, seatsText(f),
				formatOptTime(f.StartsAt, "-"), formatOptTime(f.ExpiresAt, "never"), secretText(l))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	return printLicenseModels(e, lics) // meter.go
}

// leaseSeats says what a lease counts: its seats, and the seat it shares
// with other leases under a counting scope.
func leaseSeats(l usher.Lease) string {
	n := fmt.Sprint(max(l.Count, 1))
	if l.Seat != "" {
		return "shared " + l.Seat
	}
	return n
}

// leaseEnd says when a lease ends: at its keep-alive expiry, or at the end
// of a borrow or linger.
func leaseEnd(l usher.Lease) string {
	switch {
	case !l.BorrowedUntil.IsZero():
		return "borrowed until " + l.BorrowedUntil.Local().Format(time.DateTime)
	case !l.LingerUntil.IsZero():
		return "released, lingers until " + l.LingerUntil.Local().Format(time.TimeOnly)
	}
	return l.ExpiresAt.Local().Format(time.TimeOnly)
}
