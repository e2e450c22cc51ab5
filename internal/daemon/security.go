package daemon

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/usher-lm/usher/internal/httpapi"
)

// Security is the part of Config about credentials, transport and
// limits. Its keys sit at the top level of the TOML file.
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
}

// RateLimitConfig is rate_limit = { requests = 200, interval = "5s" }:
// each remote IP may make Requests per Interval. Zero requests turns it
// off.
type RateLimitConfig struct {
	Requests int      `toml:"requests"`
	Interval Duration `toml:"interval"`
}

// Security defaults.
const (
	DefaultLoginTTL          = 12 * time.Hour
	DefaultRateLimitInterval = 5 * time.Second // rate_limit.requests is 0 (off) by default
	DefaultMaxRequestSize    = httpapi.DefaultMaxRequestSize
	DefaultReadHeaderTimeout = 10 * time.Second
)

func defaultSecurity() Security {
	return Security{
		LoginTTL:          Duration(DefaultLoginTTL),
		RateLimit:         RateLimitConfig{Interval: Duration(DefaultRateLimitInterval)},
		MaxRequestSize:    DefaultMaxRequestSize,
		ReadHeaderTimeout: Duration(DefaultReadHeaderTimeout),
	}
}

func securityKeys() []Key {
	return []Key{
		{Name: "tls_cert", Usage: "serve HTTPS with this certificate `FILE` (PEM; with tls_key)"},
		{Name: "tls_key", Usage: "private key `FILE` of tls_cert (PEM)"},
		{Name: "tls_auto", Usage: "serve HTTPS with a self-signed certificate made once in the data directory; prints its fingerprint", Bool: true},
		{Name: "tls_client_ca", Usage: "require client certificates signed by this CA `FILE` (PEM): mutual TLS"},
		{Name: "client_password", Usage: "when set, checkout, heartbeat and release need this `PASSWORD` (or a client token) as bearer token"},
		{Name: "login_ttl", Usage: "how long a login's token lasts, as a `DURATION` (default 12h)"},
		{Name: "rate_limit_requests", Int: true, Usage: "at most `N` requests per rate_limit_interval from one IP; 0 (the default) turns the limit off (TOML: rate_limit.requests)"},
		{Name: "rate_limit_interval", Usage: "the `DURATION` of the rate limit (TOML: rate_limit.interval; default 5s)"},
		{Name: "max_request_size", Int: true, Usage: "largest request body in `BYTES` (default 2097152)"},
		{Name: "read_header_timeout", Usage: "a client must send its request headers within this `DURATION` (default 10s)"},
	}
}

// setSecurity sets one of securityKeys; ok is false for other keys.
func (c *Config) setSecurity(key, value string) (ok bool, err error) {
	s := &c.Security
	switch key {
	case "tls_cert":
		s.TLSCert = value
	case "tls_key":
		s.TLSKey = value
	case "tls_auto":
		s.TLSAuto, err = strconv.ParseBool(value)
	case "tls_client_ca":
		s.TLSClientCA = value
	case "client_password":
		s.ClientPassword = value
	case "login_ttl":
		err = s.LoginTTL.UnmarshalText([]byte(value))
	case "rate_limit_requests":
		s.RateLimit.Requests, err = strconv.Atoi(value)
	case "rate_limit_interval":
		err = s.RateLimit.Interval.UnmarshalText([]byte(value))
	case "max_request_size":
		s.MaxRequestSize, err = strconv.ParseInt(value, 10, 64)
	case "read_header_timeout":
		err = s.ReadHeaderTimeout.UnmarshalText([]byte(value))
	default:
		return false, nil
	}
	return true, err
}

// getSecurity returns one of securityKeys in the form Set takes; ok is
// false for other keys.
func (c *Config) getSecurity(key string) (v string, ok bool) {
	s := c.Security
	switch key {
	case "tls_cert":
		return s.TLSCert, true
	case "tls_key":
		return s.TLSKey, true
	case "tls_auto":
		return strconv.FormatBool(s.TLSAuto), true
	case "tls_client_ca":
		return s.TLSClientCA, true
	case "client_password":
		return s.ClientPassword, true
	case "login_ttl":
		return time.Duration(s.LoginTTL).String(), true
	case "rate_limit_requests":
		return strconv.Itoa(s.RateLimit.Requests), true
	case "rate_limit_interval":
		return time.Duration(s.RateLimit.Interval).String(), true
	case "max_request_size":
		return strconv.FormatInt(s.MaxRequestSize, 10), true
	case "read_header_timeout":
		return time.Duration(s.ReadHeaderTimeout).String(), true
	}
	return "", false
}

// validateSecurity reports the first security setting that cannot work.
func (c *Config) validateSecurity() error {
	s := c.Security
	switch {
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return errors.New("tls_cert, tls_key: set both or neither")
	case s.TLSAuto && s.TLSCert != "":
		return errors.New("tls_auto: cannot be used with tls_cert: pick one")
	case s.TLSClientCA != "" && s.TLSCert == "" && !s.TLSAuto:
		return errors.New("tls_client_ca: needs TLS: set tls_cert and tls_key, or tls_auto")
	case s.LoginTTL < Duration(time.Minute):
		return errors.New("login_ttl: must be at least 1m")
	case s.RateLimit.Requests < 0:
		return errors.New("rate_limit.requests: must not be negative (0 turns the limit off)")
	case s.RateLimit.Requests > 0 && s.RateLimit.Interval <= 0:
		return errors.New("rate_limit.interval: must be positive, like \"5s\"")
	case s.MaxRequestSize < 1024:
		return fmt.Errorf("max_request_size: %d bytes is too small: use at least 1024", s.MaxRequestSize)
	case s.ReadHeaderTimeout <= 0:
		return errors.New("read_header_timeout: must be positive, like \"10s\"")
	}
	return nil
}

// TLS reports whether the server serves HTTPS.
func (s Security) TLS() bool { return s.TLSAuto || s.TLSCert != "" }
