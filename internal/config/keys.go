package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
)

// Key is one configuration key. Its flag is the name with '-' for '_'
// (Flag), its environment variable USHER_ and the name in upper case (Env).
type Key struct {
	Name    string // the TOML key
	Table   string // the key's place in a TOML table too, like "rate_limit.requests"
	Default string // in the form Set takes; "" leaves the zero value
	Usage   string // for --help; a `WORD` in backquotes names the flag's value
	Live    bool   // changes while the server runs (settings API, reload)
	Secret  bool   // shown as "(set)" by Map

	check func(v any) error // the key's own rule, given the field's value
}

// Flag returns the key's command-line flag name, without dashes in front.
func (k Key) Flag() string { return strings.ReplaceAll(k.Name, "_", "-") }

// Env returns the key's environment variable.
func (k Key) Env() string { return "USHER_" + strings.ToUpper(k.Name) }

// IsBool reports whether the key is a bool, a flag that needs no value.
func (k Key) IsBool() bool { _, ok := k.zero().(*bool); return ok }

// IsList reports whether the key is a list: its flag may be repeated, and
// its environment variable takes a comma-separated list.
func (k Key) IsList() bool { _, ok := k.zero().(*List); return ok }

// FlagUsage is the usage text of the key's flag, with its default.
func (k Key) FlagUsage() string {
	if k.Default == "" || k.IsBool() {
		return k.Usage
	}
	return k.Usage + " (default " + k.Default + ")"
}

// name is how errors name the key: its place in the TOML table if it has one.
func (k Key) name() string {
	if k.Table != "" {
		return k.Table
	}
	return k.Name
}

func (k Key) zero() any {
	var c Config
	p, _ := c.field(k)
	return p
}

// registry declares every key once, in the order docs/config.md lists them.
// Adding a key is adding a field with its toml tag to Config and an entry
// here; flags, environment, TOML, Get, Set, Map, Validate and the runtime
// settings follow.
var registry = []Key{
	{Name: "data", Usage: "data `DIR`: the store, the admin token"},
	{Name: "listen", Usage: "`ADDR` to listen on (repeatable; default " + DefaultListen + ")", check: listenAddrs},
	{Name: "vendor_key", Usage: "vendor public key `FILE` (repeatable: several vendors)"},
	{Name: "keepalive_timeout", Default: dur(DefaultKeepaliveTimeout), Live: true, check: minDuration(time.Second),
		Usage: "a lease without a heartbeat for this `DURATION` is reclaimed"},
	{Name: "keepalive_scan_interval", Default: dur(DefaultKeepaliveScanInterval), Live: true,
		Usage: "how often to look for expired leases, as a `DURATION`"},
	{Name: "connection_timeout", Default: dur(DefaultConnectionTimeout), Live: true, check: minDuration(time.Second),
		Usage: "idle connections are closed after this `DURATION`"},
	{Name: "dev", Usage: "dev mode: throwaway vendor key, demo license, " + DevListen},
	{Name: "identity_lock_dir", Usage: "`DIR` of the identity lock files, shared by every server on a host (mount it into each container); default /run/usher where writable, else the temporary directory"},
	{Name: "policy_file", Usage: "policy `FILE` (TOML): who may use which seats; see docs/policies.md"},

	{Name: "clock_tolerance", Default: dur(usher.DefaultClockTolerance), check: minDuration(time.Minute),
		Usage: "refuse features with dates while the clock is more than this `DURATION` behind a time the server has seen"},

	{Name: "log_level", Default: strconv.Itoa(DefaultLogLevel), Live: true, check: logLevel,
		Usage: "log `LEVEL`: 0 quiet, 1 errors, 2 warnings, 3 info, 4 debug"},
	{Name: "log_format", Default: DefaultLogFormat, check: oneOf("text", "json"),
		Usage: "log `FORMAT`: text or json"},
	{Name: "log_file", Usage: "write logs to `FILE`, rotated by size, instead of stderr"},
	{Name: "log_max_size", Default: DefaultLogMaxSize.String(), check: minSize(KB),
		Usage: "rotate log_file when it reaches this `SIZE`, like 200KB or 10MB (a bare number is megabytes)"},
	{Name: "log_max_backups", Default: strconv.Itoa(DefaultLogMaxBackups), check: minNumber(0),
		Usage: "rotated log files to keep, as a `COUNT` (0 keeps all)"},
	{Name: "event_retention", Default: dur(DefaultEventRetention), Live: true, check: minDuration(time.Minute),
		Usage: "keep events for this `DURATION`"},
	{Name: "event_max_size", Default: DefaultEventMaxSize.String(), check: minSize(MB),
		Usage: "keep the event log under this `SIZE`, like 500MB or 2GB, deleting the oldest events first (a bare number is megabytes; a cluster keeps cluster_event_limit instead)"},
	{Name: "webhook_max_backoff", Default: dur(DefaultWebhookMaxBackoff), check: minDuration(time.Second),
		Usage: "wait at most this `DURATION` between two attempts of a webhook delivery"},
	{Name: "webhook_dead_letter_after", Default: dur(DefaultWebhookDeadLetterAfter), check: minDuration(time.Minute),
		Usage: "give up a webhook delivery (dead-letter it) once its events are this `DURATION` old"},
	{Name: "usage_retention", Default: dur(DefaultUsageRetention), Live: true, check: minDuration(time.Hour),
		Usage: "keep per-minute usage history for this `DURATION`"},

	{Name: "tls_cert", Usage: "serve HTTPS with this certificate `FILE` (PEM; with tls_key)"},
	{Name: "tls_key", Usage: "private key `FILE` of tls_cert (PEM)"},
	{Name: "tls_auto", Usage: "serve HTTPS with a self-signed certificate made once in the data directory; prints its fingerprint"},
	{Name: "tls_client_ca", Usage: "require client certificates signed by this CA `FILE` (PEM): mutual TLS"},
	{Name: "client_password", Secret: true,
		Usage: "when set, checkout, heartbeat and release need this `PASSWORD` (or a client token) as bearer token"},
	{Name: "login_ttl", Default: dur(DefaultLoginTTL), check: minDuration(time.Minute),
		Usage: "how long a login's token lasts, as a `DURATION`"},
	{Name: "rate_limit_requests", Table: "rate_limit.requests", check: notNegative("0 turns the limit off"),
		Usage: "at most `N` requests per rate_limit_interval from one IP; 0 (the default) turns the limit off (TOML: rate_limit.requests)"},
	{Name: "rate_limit_interval", Table: "rate_limit.interval", Default: dur(DefaultRateLimitInterval),
		Usage: "the `DURATION` of the rate limit (TOML: rate_limit.interval)"},
	{Name: "max_request_size", Default: strconv.Itoa(DefaultMaxRequestSize), check: minNumber(1024),
		Usage: "largest request body in `BYTES`"},
	{Name: "read_header_timeout", Default: dur(DefaultReadHeaderTimeout), check: positive("10s"),
		Usage: "a client must send its request headers within this `DURATION`"},
	{Name: "read_timeout", Default: dur(DefaultReadTimeout), check: positive("30s"),
		Usage: "a client must send a request's body within this `DURATION` of its headers"},
	{Name: "max_connections", Default: strconv.Itoa(DefaultMaxConnections), check: minNumber(16),
		Usage: "at most `N` open client connections in all; kept below the open-file limit"},
	{Name: "max_connections_per_address", Default: strconv.Itoa(DefaultMaxConnectionsPerAddr), check: minNumber(1),
		Usage: "at most `N` open connections from one client address"},
	{Name: "max_leases_per_address", Default: strconv.Itoa(usher.DefaultMaxLeasesPerAddress), check: notNegative("0 turns the limit off"),
		Usage: "at most `N` live leases per client address; 0 turns the limit off"},
	{Name: "max_waiters_per_address", Default: strconv.Itoa(usher.DefaultMaxWaitersPerAddress), check: notNegative("0 turns the limit off"),
		Usage: "at most `N` checkouts waiting in line per client address; 0 turns the limit off"},

	{Name: "discovery", Default: "true",
		Usage: "answer discovery on the LAN (UDP broadcast and multicast, mDNS) and send announcements; --discovery=false turns it off"},
	{Name: "discovery_port", Default: strconv.Itoa(DefaultDiscoveryPort), check: portNumber,
		Usage: "UDP `PORT` of discovery requests; announcements go to the port after it"},
	{Name: "announce_interval", Default: dur(DefaultAnnounceInterval), check: minDuration(time.Second),
		Usage: "send an announcement on the LAN every `DURATION`; a second server with this identity is found within one"},

	{Name: "cluster_name", Usage: "cluster `NAME`: its key prefix in etcd (default " + DefaultClusterName + ")"},
	{Name: "node_name", Usage: "this node's `NAME` in the cluster (default the host name)"},
	{Name: "peer_listen", Usage: "`HOST:PORT` where the embedded etcd member talks to its peers"},
	{Name: "peers", Usage: "every member of the embedded cluster as `NAME=URL` (repeatable): enables cluster mode"},
	{Name: "etcd_client_listen", Usage: "`HOST:PORT` where the embedded etcd member serves etcd clients (default peer_listen's port + 1)"},
	{Name: "etcd_endpoints", Usage: "`URL` of an external etcd cluster (repeatable): cluster mode without an embedded member"},
	{Name: "etcd_ca", Usage: "CA certificate `FILE` that etcd's certificates are checked against"},
	{Name: "etcd_cert", Usage: "client certificate `FILE` presented to etcd"},
	{Name: "etcd_key", Usage: "private key `FILE` of etcd_cert"},
	{Name: "advertise", Usage: "`URL` where the other nodes reach this node's API (default from listen and peer_listen)"},
	{Name: "cluster_event_limit", Default: strconv.Itoa(DefaultEventLimit), check: minNumber(1000),
		Usage: "keep at most this `COUNT` of events in etcd, whatever event_retention says"},

	{Name: "upstream", check: upstreamURLs,
		Usage: "relay: take seats from the server at `URL` (comma-separated or repeatable, in order of preference), or auto to find it by discovery; see docs/relay.md"},
	{Name: "upstream_token", Secret: true,
		Usage: "relay: bearer `TOKEN` sent upstream: its client_password or a client token"},
	{Name: "upstream_tls_fingerprint",
		Usage: "relay: trust exactly the upstream certificate with this SHA-256 `FINGERPRINT` (as usher server --tls-auto prints)"},
	{Name: "relay_headroom", check: notNegative("0 holds no seat beyond the local leases"),
		Usage: "relay: hold at most this `COUNT` of seats beyond the local leases"},
	{Name: "relay_idle", Default: dur(DefaultRelayIdle), check: minDuration(time.Second),
		Usage: "relay: give seats back upstream once they have been free for this `DURATION`"},

	{Name: "hardware_key_module", Usage: "`PATH` of the PKCS#11 module of the hardware key that holds the server's identity (OpenSC, SoftHSM2, a vendor's)"},
	{Name: "hardware_key_token", Usage: "`LABEL` or serial of the hardware key (default the only one plugged in)"},
	{Name: "hardware_key_pin_file", Usage: "`FILE` holding the hardware key's PIN"},
	{Name: "hardware_key_poll", Default: dur(DefaultHardwareKeyPoll), check: minDuration(100 * time.Millisecond),
		Usage: "check the hardware key is plugged in every `DURATION`"},
	{Name: "crash_if_no_hardware_key", Usage: "exit with an error when the hardware key is unplugged, instead of refusing its features"},
}

func dur(d time.Duration) string { return Duration(d).String() }

// Keys lists every configuration key, in the order docs/config.md lists them.
func Keys() []Key { return append([]Key(nil), registry...) }

// LookupKey returns the key with the given TOML name.
func LookupKey(name string) (Key, bool) {
	for _, k := range registry {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// LiveKeys are the keys that change while the server runs: through the
// settings API, or on reload. Others need a restart.
func LiveKeys() []string {
	var out []string
	for _, k := range registry {
		if k.Live {
			out = append(out, k.Name)
		}
	}
	return out
}

// IsLive reports whether the key changes while the server runs.
func IsLive(name string) bool {
	k, ok := LookupKey(name)
	return ok && k.Live
}

// minDuration is the rule "must be at least min" of a duration key.
func minDuration(min time.Duration) func(v any) error {
	return func(v any) error {
		if v.(Duration) < Duration(min) {
			return fmt.Errorf("must be at least %v", Duration(min))
		}
		return nil
	}
}

// portNumber is the rule of a UDP or TCP port key.
func portNumber(v any) error {
	if n := v.(int); n < 1 || n > 65535 {
		return fmt.Errorf("must be a port from 1 to 65535")
	}
	return nil
}

// minNumber is the rule "must be at least min" of a whole-number key.
func minNumber(min int64) func(v any) error {
	return func(v any) error {
		n, _ := v.(int64)
		if i, ok := v.(int); ok {
			n = int64(i)
		}
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

// minSize is the rule "must be at least min" of a size key.
func minSize(min Size) func(v any) error {
	return func(v any) error {
		if v.(Size) < min {
			return fmt.Errorf("must be at least %v", min)
		}
		return nil
	}
}

func positive(example string) func(v any) error {
	return func(v any) error {
		if v.(Duration) <= 0 {
			return fmt.Errorf("must be positive, like %q", example)
		}
		return nil
	}
}

func notNegative(why string) func(v any) error {
	return func(v any) error {
		if v.(int) < 0 {
			return fmt.Errorf("must not be negative (%s)", why)
		}
		return nil
	}
}

func oneOf(choices ...string) func(v any) error {
	return func(v any) error {
		for _, c := range choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("%q is not valid: use %s", v, strings.Join(choices, " or "))
	}
}

// listenAddrs is the rule of listen: each address is HOST:PORT (HOST may
// be empty) with a port from 0 to 65535.
func listenAddrs(v any) error {
	for _, addr := range v.(List) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%q is not HOST:PORT: write it like %s or 127.0.0.1:7420", addr, DefaultListen)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
		}
	}
	return nil
}

func logLevel(v any) error {
	if n := v.(int); n < 0 || n > 4 {
		return errors.New("must be 0 (quiet), 1 (errors), 2 (warnings), 3 (info) or 4 (debug)")
	}
	return nil
}

// upstreamURLs is the rule of upstream: auto alone, or URLs of servers.
func upstreamURLs(v any) error {
	list := v.(List)
	for _, s := range list {
		if s == "auto" {
			if len(list) > 1 {
				return errors.New("auto finds the upstream by discovery: give either auto or URLs, not both")
			}
			continue
		}
		u, err := url.Parse(s)
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("%q is not a server URL: write it like http://master:7420, or auto", s)
		}
	}
	return nil
}
