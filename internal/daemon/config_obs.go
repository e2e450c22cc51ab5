package daemon

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of the logging and history keys.
const (
	DefaultLogLevel       = 3 // info
	DefaultLogFormat      = "text"
	DefaultLogMaxSize     = 100 // megabytes
	DefaultLogMaxBackups  = 5
	DefaultEventRetention = 720 * time.Hour
	DefaultUsageRetention = 8760 * time.Hour
)

func obsKeys() []Key {
	return []Key{
		{Name: "log_level", Usage: "log `LEVEL`: 0 quiet, 1 errors, 2 warnings, 3 info, 4 debug (default 3)", Int: true},
		{Name: "log_format", Usage: "log `FORMAT`: text or json (default text)"},
		{Name: "log_file", Usage: "write logs to `FILE`, rotated by size, instead of stderr"},
		{Name: "log_max_size", Usage: "rotate log_file when it reaches this size in `MB` (default 100)", Int: true},
		{Name: "log_max_backups", Usage: "rotated log files to keep, as a `COUNT` (default 5; 0 keeps all)", Int: true},
		{Name: "event_retention", Usage: "keep events for this `DURATION` (default 720h)"},
		{Name: "usage_retention", Usage: "keep per-minute usage history for this `DURATION` (default 8760h)"},
	}
}

func (c *Config) setObs(key, value string) error {
	var err error
	switch key {
	case "log_level":
		c.LogLevel, err = parseInt(value)
	case "log_format":
		c.LogFormat = value
	case "log_file":
		c.LogFile = value
	case "log_max_size":
		c.LogMaxSize, err = parseInt(value)
	case "log_max_backups":
		c.LogMaxBackups, err = parseInt(value)
	case "event_retention":
		err = c.EventRetention.UnmarshalText([]byte(value))
	case "usage_retention":
		err = c.UsageRetention.UnmarshalText([]byte(value))
	default:
		return fmt.Errorf("unknown key %q: see docs/config.md for every key", key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return n, nil
}

func (c *Config) validateObs() error {
	switch {
	case c.LogLevel < 0 || c.LogLevel > 4:
		return errors.New("log_level: must be 0 (quiet), 1 (errors), 2 (warnings), 3 (info) or 4 (debug)")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log_format: %q is not a format: use text or json", c.LogFormat)
	case c.LogMaxSize < 1:
		return errors.New("log_max_size: must be at least 1 (megabyte)")
	case c.LogMaxBackups < 0:
		return errors.New("log_max_backups: must not be negative")
	case c.EventRetention < Duration(time.Minute):
		return errors.New("event_retention: must be at least 1m")
	case c.UsageRetention < Duration(time.Hour):
		return errors.New("usage_retention: must be at least 1h")
	}
	return nil
}

// LookupKey returns the key with the given TOML name.
func LookupKey(name string) (Key, bool) {
	i := slices.IndexFunc(Keys(), func(k Key) bool { return k.Name == name })
	if i < 0 {
		return Key{}, false
	}
	return Keys()[i], true
}

// setTOML sets every key of a decoded TOML document, naming the key of the
// first one that is unknown, of the wrong type or of a bad value.
func (c *Config) setTOML(raw map[string]any) error {
	raw = flattenTables(raw)
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		k, ok := LookupKey(name)
		if !ok {
			return fmt.Errorf("unknown key %q: see docs/config.md for every key", name)
		}
		v, err := tomlString(k, raw[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := c.Set(name, v); err != nil {
			return err
		}
	}
	return nil
}

// flattenTables turns the rate_limit table (rate_limit = { requests = 200,
// interval = "5s" }) into the keys it stands for (rate_limit_requests,
// rate_limit_interval). Other tables stay, and are refused as unknown.
func flattenTables(raw map[string]any) map[string]any {
	out := make(map[string]any, len(raw))
	for name, v := range raw {
		if table, ok := v.(map[string]any); ok && name == "rate_limit" {
			for sub, sv := range table {
				out[name+"_"+sub] = sv
			}
			continue
		}
		out[name] = v
	}
	return out
}

// tomlString turns a TOML value into the string form Set takes, checking
// its type against the key's.
func tomlString(k Key, v any) (string, error) {
	switch {
	case k.List:
		switch v := v.(type) {
		case string:
			return v, nil
		case []any:
			parts := make([]string, len(v))
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					return "", fmt.Errorf("want a list of strings, got %v", v)
				}
				parts[i] = s
			}
			return strings.Join(parts, ","), nil
		}
		return "", fmt.Errorf("want a string or a list of strings, got %v", v)
	case k.Bool:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("want true or false, got %v", v)
	case k.Int:
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf("want a whole number, got %v", v)
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("want a quoted string, got %v", v)
}

// Get returns a key's value in the string form Set takes; lists are
// comma-separated.
func (c *Config) Get(key string) (string, error) {
	if v, ok := c.getSecurity(key); ok {
		return v, nil
	}
	if v, ok := c.getCluster(key); ok {
		return v, nil
	}
	switch key {
	case "data":
		return c.Data, nil
	case "listen":
		return strings.Join(c.Listen, ","), nil
	case "vendor_key":
		return strings.Join(c.VendorKey, ","), nil
	case "keepalive_timeout":
		return time.Duration(c.KeepaliveTimeout).String(), nil
	case "keepalive_scan_interval":
		return time.Duration(c.KeepaliveScanInterval).String(), nil
	case "connection_timeout":
		return time.Duration(c.ConnectionTimeout).String(), nil
	case "dev":
		return strconv.FormatBool(c.Dev), nil
	case "log_level":
		return strconv.Itoa(c.LogLevel), nil
	case "log_format":
		return c.LogFormat, nil
	case "log_file":
		return c.LogFile, nil
	case "log_max_size":
		return strconv.Itoa(c.LogMaxSize), nil
	case "log_max_backups":
		return strconv.Itoa(c.LogMaxBackups), nil
	case "event_retention":
		return time.Duration(c.EventRetention).String(), nil
	case "usage_retention":
		return time.Duration(c.UsageRetention).String(), nil
	}
	return "", fmt.Errorf("unknown key %q: see docs/config.md for every key", key)
}

// Map returns every key's value as Get gives it, for display: the value
// of a key whose name says it is a secret (password, secret, token or
// private key) is replaced by "(set)".
func (c *Config) Map() map[string]string {
	m := make(map[string]string)
	for _, k := range Keys() {
		v, err := c.Get(k.Name)
		if err != nil {
			continue
		}
		if v != "" && isSecretKey(k.Name) {
			v = "(set)"
		}
		m[k.Name] = v
	}
	return m
}

func isSecretKey(name string) bool {
	for _, s := range []string{"password", "secret", "token", "private"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
