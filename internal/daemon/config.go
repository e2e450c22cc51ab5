// Package daemon assembles a running Usher server from its parts: the
// data directory, the store, the ledger, the sweeper and the HTTP
// listeners. cmd/usher fills a Config and calls Start; tests do the same
// in process.
package daemon

import "github.com/usher-lm/usher/internal/config"

// Config is the server configuration; see package config, where every key
// is declared.
type Config = config.Config

// Security is the part of Config about credentials, transport and limits.
type Security = config.Security

// RateLimitConfig is rate_limit = { requests, interval }.
type RateLimitConfig = config.RateLimitConfig

// Duration is a time.Duration written in TOML as a string like "180s".
type Duration = config.Duration

// Key describes one configuration key.
type Key = config.Key

// Defaults the server's callers use.
const (
	DefaultListen                   = config.DefaultListen
	DevListen                       = config.DevListen
	DefaultKeepaliveTimeout         = config.DefaultKeepaliveTimeout
	DefaultKeepaliveScanInterval    = config.DefaultKeepaliveScanInterval
	DefaultConnectionTimeout        = config.DefaultConnectionTimeout
	DefaultClusterName              = config.DefaultClusterName
	DefaultMaxConnections           = config.DefaultMaxConnections
	DefaultReadTimeout              = config.DefaultReadTimeout
	DefaultMaxConnectionsPerAddress = config.DefaultMaxConnectionsPerAddr
)

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config { return config.Default() }

// Keys lists every configuration key, in the order they are documented.
func Keys() []Key { return config.Keys() }

// LookupKey returns the key with the given TOML name.
func LookupKey(name string) (Key, bool) { return config.LookupKey(name) }

// LiveKeys are the configuration keys that change while the server runs:
// through the settings API, or on reload. Others need a restart.
func LiveKeys() []string { return config.LiveKeys() }
