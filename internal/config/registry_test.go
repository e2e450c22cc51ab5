package config_test

import (
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/config"
)

// sample returns a value for key k other than its default, in Set's form.
func sample(t *testing.T, k config.Key) string {
	t.Helper()
	var c config.Config
	v, err := c.Get(k.Name)
	if err != nil {
		t.Fatalf("get %s: %v", k.Name, err)
	}
	switch {
	case k.IsBool():
		return "true"
	case k.IsList():
		return "x:1,y:2"
	case strings.HasSuffix(v, "B"): // a size
		return "200KB"
	case v == "0s":
		return "1m30s"
	case v == "0":
		return "4242"
	}
	return "some-value"
}

func TestEveryKeyRoundTrips(t *testing.T) {
	def := config.Default()
	for _, k := range config.Keys() {
		for _, v := range []string{mustGet(t, def, k.Name), sample(t, k)} {
			var c config.Config
			if err := c.Set(k.Name, v); err != nil {
				t.Errorf("set %s to %q: %v", k.Name, v, err)
				continue
			}
			if got := mustGet(t, c, k.Name); got != v {
				t.Errorf("%s: set %q, got %q back", k.Name, v, got)
			}
		}
	}
	var c config.Config
	if err := c.Set("nope", "1"); err == nil || !strings.Contains(err.Error(), `unknown key "nope"`) {
		t.Errorf("unknown key: got %v", err)
	}
	if _, err := c.Get("nope"); err == nil {
		t.Error("Get of an unknown key: got no error")
	}
}

func mustGet(t *testing.T, c config.Config, key string) string {
	t.Helper()
	v, err := c.Get(key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return v
}

// TestEveryFieldIsAKey keeps Config and the registry in step: a field
// without a key could be set by no flag, variable or Set.
func TestEveryFieldIsAKey(t *testing.T) {
	var names []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for _, f := range reflect.VisibleFields(typ) {
			tag := f.Tag.Get("toml")
			switch {
			case f.Anonymous:
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				// An array of tables ([[webhook]]) is a list of entries, not a key.
			case f.Type.Kind() == reflect.Struct:
				walk(prefix+tag+"_", f.Type)
			default:
				names = append(names, prefix+tag)
			}
		}
	}
	walk("", reflect.TypeFor[config.Config]())
	keys := config.Keys()
	for _, n := range names {
		if _, ok := config.LookupKey(n); !ok {
			t.Errorf("field %s has no registry key", n)
		}
	}
	if len(names) != len(keys) {
		t.Errorf("%d fields, %d keys: want one key per field", len(names), len(keys))
	}
}

func TestDefaultIsValidOnceRequiredKeysAreSet(t *testing.T) {
	c := config.Default()
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "data:") {
		t.Errorf("no data directory: got %v, want an error naming data", err)
	}
	c.Data, c.VendorKey = "d", config.List{"v.pub"}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"keepalive_timeout", "0s", "keepalive_timeout: must be at least 1s"},
		{"log_max_size", "512B", "log_max_size: must be at least 1KB"},
		{"event_max_size", "512KB", "event_max_size: must be at least 1MB"},
		{"log_format", "xml", `log_format: "xml" is not valid: use text or json`},
		{"rate_limit_requests", "-1", "rate_limit.requests: must not be negative"},
		{"max_request_size", "10", "max_request_size: must be at least 1024"},
		{"read_header_timeout", "0s", "read_header_timeout: must be positive"},
		{"cluster_event_limit", "10", "cluster_event_limit: must be at least 1000"},
	} {
		c := config.Default()
		c.Data, c.VendorKey = "d", config.List{"v.pub"}
		if err := c.Set(tc.key, tc.value); err != nil {
			t.Fatalf("set %s: %v", tc.key, err)
		}
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s = %s: got %v, want %q", tc.key, tc.value, err, tc.want)
		}
	}
}

func TestSizeUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.Size
		str  string
	}{
		{"200KB", 200 * config.KB, "200KB"},
		{"200kb", 200 * config.KB, "200KB"},
		{"10 MB", 10 * config.MB, "10MB"},
		{"100", 100 * config.MB, "100MB"}, // a bare number is megabytes
		{"2GB", 2 * config.GB, "2GB"},
		{"1536KiB", 1536 * config.KB, "1536KB"},
		{"4096B", 4 * config.KB, "4KB"},
		{"1000B", 1000, "1000B"},
	} {
		var s config.Size
		if err := s.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s != tc.want || s.String() != tc.str {
			t.Errorf("%q: got %d (%s), want %d (%s)", tc.in, s, s, tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "MB", "-1KB", "1.5MB", "10TB", "99999999999999GB"} {
		var s config.Size
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q: got %d, want an error", bad, s)
		}
	}
}

func TestLiveKeysComeFromTheRegistry(t *testing.T) {
	want := []string{"keepalive_timeout", "keepalive_scan_interval", "connection_timeout",
		"log_level", "event_retention", "usage_retention"}
	if got := config.LiveKeys(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if !config.IsLive("log_level") || config.IsLive("data") || config.IsLive("nope") {
		t.Error("IsLive disagrees with LiveKeys")
	}
}

func TestMapMasksSecrets(t *testing.T) {
	c := config.Default()
	c.ClientPassword, c.Data = "hunter2", "/d"
	m := c.Map()
	if m["client_password"] != "(set)" || m["data"] != "/d" || m["log_max_size"] != "100MB" {
		t.Errorf("got client_password %q, data %q, log_max_size %q", m["client_password"], m["data"], m["log_max_size"])
	}
	if len(m) != len(config.Keys()) {
		t.Errorf("Map has %d keys, want %d", len(m), len(config.Keys()))
	}
}

func TestBindFlagsDefinesEveryKey(t *testing.T) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	config.BindFlags(fs)
	for _, k := range config.Keys() {
		f := fs.Lookup(k.Flag())
		if f == nil {
			t.Errorf("no flag --%s for %s", k.Flag(), k.Name)
			continue
		}
		if f.Usage != k.FlagUsage() {
			t.Errorf("--%s usage %q, want %q", k.Flag(), f.Usage, k.FlagUsage())
		}
	}
	if k, _ := config.LookupKey("keepalive_timeout"); k.Env() != "USHER_KEEPALIVE_TIMEOUT" || k.Flag() != "keepalive-timeout" {
		t.Errorf("keepalive_timeout: env %s, flag %s", k.Env(), k.Flag())
	}
}

func TestDevStaysAloneAndLocal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen []string
		vendor []string
		want   string // "" for valid
	}{
		{"loopback v4", []string{"127.0.0.1:7420"}, nil, ""},
		{"loopback v6 and localhost", []string{"[::1]:0", "localhost:7420"}, nil, ""},
		{"next to a real vendor key", []string{"127.0.0.1:7420"}, []string{"vendor.pub"}, "dev: cannot be used with vendor_key"},
		{"every interface", []string{":7420"}, nil, "dev: listen :7420 is not a loopback address"},
		{"a public address", []string{"127.0.0.1:7420", "192.0.2.7:7420"}, nil, "dev: listen 192.0.2.7:7420 is not a loopback address"},
		{"no listen address", nil, nil, "dev: needs a loopback listen address"},
	} {
		c := config.Default()
		c.Dev, c.Data, c.Listen, c.VendorKey = true, "d", tc.listen, tc.vendor
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
