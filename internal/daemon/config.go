// Package daemon assembles a running Usher server from its parts: the
// data directory, the store, the ledger, the sweeper and the HTTP
// listeners. cmd/usher fills a Config and calls Start; tests do the same
// in process.
package daemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Duration is a time.Duration written in TOML as a string like "180s".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: use a value like \"180s\" or \"5m\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Config is the server configuration. Every field has a TOML key and a
// flag of the same name (with '-' for '_').
type Config struct {
	Data                  string   `toml:"data"`
	Listen                []string `toml:"listen"`
	VendorKey             []string `toml:"vendor_key"`
	KeepaliveTimeout      Duration `toml:"keepalive_timeout"`
	KeepaliveScanInterval Duration `toml:"keepalive_scan_interval"`
	ConnectionTimeout     Duration `toml:"connection_timeout"`
	Dev                   bool     `toml:"dev"`
	Security                       // TLS, credentials and limits: security.go

	// Observability; see config_obs.go.
	LogLevel       int      `toml:"log_level"`
	LogFormat      string   `toml:"log_format"`
	LogFile        string   `toml:"log_file"`
	LogMaxSize     int      `toml:"log_max_size"`
	LogMaxBackups  int      `toml:"log_max_backups"`
	EventRetention Duration `toml:"event_retention"`
	UsageRetention Duration `toml:"usage_retention"`

	// Cluster mode: set peers (embedded etcd) or etcd_endpoints.
	ClusterName      string   `toml:"cluster_name"`
	NodeName         string   `toml:"node_name"`
	PeerListen       string   `toml:"peer_listen"`
	Peers            []string `toml:"peers"`
	EtcdClientListen string   `toml:"etcd_client_listen"`
	EtcdEndpoints    []string `toml:"etcd_endpoints"`
	EtcdCA           string   `toml:"etcd_ca"`
	EtcdCert         string   `toml:"etcd_cert"`
	EtcdKey          string   `toml:"etcd_key"`
	Advertise        string   `toml:"advertise"`
	EventLimit       int      `toml:"cluster_event_limit"`
}

// Defaults.
const (
	DefaultListen                = ":7420"
	DevListen                    = "127.0.0.1:7420"
	DefaultKeepaliveTimeout      = 180 * time.Second
	DefaultKeepaliveScanInterval = 3 * time.Second
	DefaultConnectionTimeout     = 30 * time.Second
	DefaultClusterName           = "usher"
	DefaultEventLimit            = 1_000_000
)

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		KeepaliveTimeout:      Duration(DefaultKeepaliveTimeout),
		KeepaliveScanInterval: Duration(DefaultKeepaliveScanInterval),
		ConnectionTimeout:     Duration(DefaultConnectionTimeout),
		Security:              defaultSecurity(),
		LogLevel:              DefaultLogLevel,
		LogFormat:             DefaultLogFormat,
		LogMaxSize:            DefaultLogMaxSize,
		LogMaxBackups:         DefaultLogMaxBackups,
		EventRetention:        Duration(DefaultEventRetention),
		UsageRetention:        Duration(DefaultUsageRetention),
		EventLimit:            DefaultEventLimit,
	}
}

// LoadFile decodes a TOML file over c. An unknown key, a value of the
// wrong type or a bad value is an error that names the key.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			if key := strings.Join(de.Key(), "."); key != "" {
				return fmt.Errorf("config %s:%d:%d: key %s: %v", path, row, col, key, de)
			}
			return fmt.Errorf("config %s:%d:%d: %v", path, row, col, de)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.setTOML(raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate reports the first setting that cannot work, naming its key.
func (c *Config) Validate() error {
	if c.Data == "" && !c.Dev {
		return errors.New("data: no data directory set: use --data DIR (or data = \"DIR\" in the config file)")
	}
	if len(c.VendorKey) == 0 && !c.Dev {
		return errors.New("vendor_key: no vendor public key set: use --vendor-key vendor.pub, from your software vendor")
	}
	if c.KeepaliveTimeout < Duration(time.Second) {
		return errors.New("keepalive_timeout: must be at least 1s")
	}
	if c.KeepaliveScanInterval <= 0 || c.KeepaliveScanInterval > c.KeepaliveTimeout {
		return errors.New("keepalive_scan_interval: must be positive and at most keepalive_timeout")
	}
	if c.ConnectionTimeout < Duration(time.Second) {
		return errors.New("connection_timeout: must be at least 1s")
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if err := c.validateObs(); err != nil {
		return err
	}
	return c.validateCluster()
}

// Key describes one configuration key: its TOML name (the flag is the
// same with '-' for '_', the environment variable USHER_ and upper case).
type Key struct {
	Name  string
	Usage string
	List  bool // repeatable flag; comma-separated in the environment
	Bool  bool
	Int   bool
}

// Keys lists every configuration key, in the order they are documented.
func Keys() []Key {
	return append([]Key{
		{Name: "data", Usage: "data `DIR`: the store, the admin token"},
		{Name: "listen", Usage: "`ADDR` to listen on (repeatable; default " + DefaultListen + ")", List: true},
		{Name: "vendor_key", Usage: "vendor public key `FILE` (repeatable: several vendors)", List: true},
		{Name: "keepalive_timeout", Usage: "a lease without a heartbeat for this `DURATION` is reclaimed (default 180s)"},
		{Name: "keepalive_scan_interval", Usage: "how often to look for expired leases, as a `DURATION` (default 3s)"},
		{Name: "connection_timeout", Usage: "idle connections are closed after this `DURATION` (default 30s)"},
		{Name: "dev", Usage: "dev mode: throwaway vendor key, demo license, 127.0.0.1:7420", Bool: true},
		{Name: "cluster_name", Usage: "cluster `NAME`: its key prefix in etcd (default " + DefaultClusterName + ")"},
		{Name: "node_name", Usage: "this node's `NAME` in the cluster (default the host name)"},
		{Name: "peer_listen", Usage: "`HOST:PORT` where the embedded etcd member talks to its peers"},
		{Name: "peers", Usage: "every member of the embedded cluster as `NAME=URL` (repeatable): enables cluster mode", List: true},
		{Name: "etcd_client_listen", Usage: "`HOST:PORT` where the embedded etcd member serves etcd clients (default peer_listen's port + 1)"},
		{Name: "etcd_endpoints", Usage: "`URL` of an external etcd cluster (repeatable): cluster mode without an embedded member", List: true},
		{Name: "etcd_ca", Usage: "CA certificate `FILE` that etcd's certificates are checked against"},
		{Name: "etcd_cert", Usage: "client certificate `FILE` presented to etcd"},
		{Name: "etcd_key", Usage: "private key `FILE` of etcd_cert"},
		{Name: "advertise", Usage: "`URL` where the other nodes reach this node's API (default from listen and peer_listen)"},
		{Name: "cluster_event_limit", Usage: "keep at most this `COUNT` of events in etcd, whatever event_retention says (default 1000000)", Int: true},
	}, append(securityKeys(), obsKeys()...)...)
}

// Set sets one key from its string form, as flags and environment
// variables give it. A list key takes a comma-separated list.
func (c *Config) Set(key, value string) error {
	if ok, err := c.setSecurity(key, value); ok {
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	var err error
	switch key {
	case "data":
		c.Data = value
	case "listen":
		c.Listen = splitList(value)
	case "vendor_key":
		c.VendorKey = splitList(value)
	case "keepalive_timeout":
		err = c.KeepaliveTimeout.UnmarshalText([]byte(value))
	case "keepalive_scan_interval":
		err = c.KeepaliveScanInterval.UnmarshalText([]byte(value))
	case "connection_timeout":
		err = c.ConnectionTimeout.UnmarshalText([]byte(value))
	case "dev":
		c.Dev, err = strconv.ParseBool(value)
	case "cluster_name":
		c.ClusterName = value
	case "node_name":
		c.NodeName = value
	case "peer_listen":
		c.PeerListen = value
	case "peers":
		c.Peers = splitList(value)
	case "etcd_client_listen":
		c.EtcdClientListen = value
	case "etcd_endpoints":
		c.EtcdEndpoints = splitList(value)
	case "etcd_ca":
		c.EtcdCA = value
	case "etcd_cert":
		c.EtcdCert = value
	case "etcd_key":
		c.EtcdKey = value
	case "advertise":
		c.Advertise = value
	case "cluster_event_limit":
		c.EventLimit, err = parseInt(value)
	default:
		return c.setObs(key, value)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
