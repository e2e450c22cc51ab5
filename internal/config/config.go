// Package config is the Usher server's configuration: every key declared
// once in a registry (name, default, usage, whether it changes at runtime,
// how it is checked), the TOML file decoded strictly into Config, and the
// order in which the sources override each other: defaults, then the file,
// then the environment, then flags.
package config

import (
	"time"

	usher "github.com/usher-lm/usher"
)

// Config is the server configuration. Every field is a key of the registry
// (see Keys): its TOML name is the field's tag.
type Config struct {
	Data                  string   `toml:"data"`
	Listen                List     `toml:"listen"`
	VendorKey             List     `toml:"vendor_key"`
	KeepaliveTimeout      Duration `toml:"keepalive_timeout"`
	KeepaliveScanInterval Duration `toml:"keepalive_scan_interval"`
	ConnectionTimeout     Duration `toml:"connection_timeout"`
	Dev                   bool     `toml:"dev"`
	IdentityLockDir       string   `toml:"identity_lock_dir"`
	PolicyFile            string   `toml:"policy_file"`
	ClockTolerance        Duration `toml:"clock_tolerance"`
	Security                       // TLS, credentials and limits
	HardwareKey                    // the hardware key holding the identity
	Relay                          // seats from an upstream server

	// Observability.
	LogLevel       int      `toml:"log_level"`
	LogFormat      string   `toml:"log_format"`
	LogFile        string   `toml:"log_file"`
	LogMaxSize     Size     `toml:"log_max_size"`
	LogMaxBackups  int      `toml:"log_max_backups"`
	EventRetention Duration `toml:"event_retention"`
	EventMaxSize   Size     `toml:"event_max_size"`
	UsageRetention Duration `toml:"usage_retention"`

	// Discovery on the LAN; see docs/discovery.md.
	Discovery        bool     `toml:"discovery"`
	DiscoveryPort    int      `toml:"discovery_port"`
	AnnounceInterval Duration `toml:"announce_interval"`

	// Cluster mode: set peers (embedded etcd) or etcd_endpoints.
	ClusterName      string `toml:"cluster_name"`
	NodeName         string `toml:"node_name"`
	PeerListen       string `toml:"peer_listen"`
	Peers            List   `toml:"peers"`
	EtcdClientListen string `toml:"etcd_client_listen"`
	EtcdEndpoints    List   `toml:"etcd_endpoints"`
	EtcdCA           string `toml:"etcd_ca"`
	EtcdCert         string `toml:"etcd_cert"`
	EtcdKey          string `toml:"etcd_key"`
	Advertise        string `toml:"advertise"`
	EventLimit       int    `toml:"cluster_event_limit"`

	// Webhooks: the [[webhook]] entries, and how their deliveries retry.
	Webhooks               []WebhookEntry `toml:"webhook"`
	WebhookMaxBackoff      Duration       `toml:"webhook_max_backoff"`
	WebhookDeadLetterAfter Duration       `toml:"webhook_dead_letter_after"`
}

// Security is the part of Config about credentials, transport and limits.
// Its keys sit at the top level of the TOML file.
type Security struct {
	TLSCert           string          `toml:"tls_cert"`
	TLSKey            string          `toml:"tls_key"`
	TLSAuto           bool            `toml:"tls_auto"`
	TLSClientCA       string          `toml:"tls_client_ca"`
	ClientPassword    string          `toml:"client_password"`
	LoginTTL          Duration        `toml:"login_ttl"`
	RateLimit         RateLimitConfig `toml:"rate_limit"`
	MaxRequestSize    int64           `toml:"max_request_size"`
	ReadHeaderTimeout Duration        `toml:"read_header_timeout"`

	// Connection floods and slow bodies.
	ReadTimeout              Duration `toml:"read_timeout"`
	MaxConnections           int      `toml:"max_connections"`
	MaxConnectionsPerAddress int      `toml:"max_connections_per_address"`

	// What one client address may hold at once; 0 turns a limit off.
	MaxLeasesPerAddress  int `toml:"max_leases_per_address"`
	MaxWaitersPerAddress int `toml:"max_waiters_per_address"`
}

// Relay is the part of Config of a relay: a server whose seats are
// blocks it holds from an upstream server (docs/relay.md). Its keys sit
// at the top level of the TOML file.
type Relay struct {
	Upstream               List     `toml:"upstream"`
	UpstreamToken          string   `toml:"upstream_token"`
	UpstreamTLSFingerprint string   `toml:"upstream_tls_fingerprint"`
	RelayHeadroom          int      `toml:"relay_headroom"`
	RelayIdle              Duration `toml:"relay_idle"`
}

// IsRelay reports whether the server is a relay.
func (r Relay) IsRelay() bool { return len(r.Upstream) > 0 }

// RateLimitConfig is rate_limit = { requests = 200, interval = "5s" }:
// each remote IP may make Requests per Interval. Zero requests turns it
// off.
type RateLimitConfig struct {
	Requests int      `toml:"requests"`
	Interval Duration `toml:"interval"`
}

// TLS reports whether the server serves HTTPS.
func (s Security) TLS() bool { return s.TLSAuto || s.TLSCert != "" }

// AddressLimits returns what the ledger lets one client address hold.
func (s Security) AddressLimits() usher.AddressLimits {
	return usher.AddressLimits{Leases: s.MaxLeasesPerAddress, Waiters: s.MaxWaitersPerAddress}
}

// Defaults that code outside the registry needs too.
const (
	DefaultListen                = ":7420"
	DefaultRelayIdle             = 60 * time.Second
	DevListen                    = "127.0.0.1:7420"
	DefaultKeepaliveTimeout      = 180 * time.Second
	DefaultKeepaliveScanInterval = 3 * time.Second
	DefaultConnectionTimeout     = 30 * time.Second
	DefaultClusterName           = "usher"
	DefaultEventLimit            = 1_000_000
	DefaultLogLevel              = 3 // info
	DefaultLogFormat             = "text"
	DefaultLogMaxSize            = 100 * MB
	DefaultLogMaxBackups         = 5
	DefaultEventRetention        = 720 * time.Hour
	DefaultEventMaxSize          = 1 * GB // as sqlite.DefaultEventsMaxSize
	DefaultUsageRetention        = 8760 * time.Hour
	DefaultLoginTTL              = 12 * time.Hour
	DefaultRateLimitInterval     = 5 * time.Second // rate_limit.requests is 0 (off) by default
	DefaultMaxRequestSize        = 2 << 20         // as httpapi.DefaultMaxRequestSize
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = 30 * time.Second
	DefaultMaxConnections        = 10_000
	DefaultMaxConnectionsPerAddr = 1_000
	DefaultDiscoveryPort         = 7420
	DefaultAnnounceInterval      = 10 * time.Second
)

// Default returns the configuration used when nothing is set: every key
// at the default its registry entry declares.
func Default() Config {
	var c Config
	for _, k := range registry {
		if k.Default == "" {
			continue
		}
		if err := c.Set(k.Name, k.Default); err != nil {
			panic("config: bad default of " + k.Name + ": " + err.Error()) // a typo in the registry, which every test would hit
		}
	}
	return c
}
