package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/config"
)

func writeFile(tb testing.TB, text string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "usher.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadFileUnknownKeyNamesKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"data = \"d\"\n\ncolour = \"red\"\n", `:3:1: unknown key "colour"`},
		{"[tls]\ncert = \"x\"\n", `unknown key "tls"`},
		{"rate_limit = { requests = 1, burst = 2 }\n", `:1:30: unknown key "burst"`},
		{"[rate_limit]\nrequests = 1\nburst = 2\n", `:3:1: unknown key "rate_limit.burst"`},
		// TOML keys are case-sensitive, although the decoder is not.
		{"Log_Level = 2\n", `:1:1: unknown key "Log_Level"`},
		{"\n\nrate_limit = { Requests = 3 }\n", `:3:16: unknown key "Requests"`},
	} {
		c := config.Default()
		err := c.LoadFile(writeFile(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %s", tc.text, err, tc.want)
		}
	}
}

func TestLoadFileWrongTypeNamesKey(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"dev = \"yes\"\n", "dev: want true or false"},
		{"log_level = \"debug\"\n", "log_level: want a whole number"},
		{"data = 5\n", "data: want a quoted string"},
		{"keepalive_timeout = 5\n", "keepalive_timeout: want a quoted duration"},
		{"keepalive_timeout = \"abc\"\n", `keepalive_timeout: "abc" is not a duration`},
		{"listen = 5\n", "listen: want a list"},
		{"listen = [1, 2]\n", "listen: want a list"},
		{"log_max_size = \"lots\"\n", `log_max_size: "lots" is not a size`},
		{"log_max_size = true\n", "log_max_size: want a size"},
		{"rate_limit = { interval = 5 }\n", "rate_limit: want a quoted duration"},
		{"rate_limit_requests = \"many\"\n", "rate_limit_requests: want a whole number"},
	} {
		c := config.Default()
		err := c.LoadFile(writeFile(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

// TestLoadFileValueErrorHasLine checks that a value refused by its type
// (not by the TOML decoder) is reported with its line too.
func TestLoadFileValueErrorHasLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"data = \"x\"\nkeepalive_timeout = 180\n", `:2:1: keepalive_timeout: want a quoted duration like "180s", got 180`},
		{"data = \"x\"\n\n[rate_limit]\ninterval = 5\n", ":3:2: rate_limit:"},
	} {
		c := config.Default()
		err := c.LoadFile(writeFile(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

func TestLoadFileSyntaxErrorHasLine(t *testing.T) {
	c := config.Default()
	err := c.LoadFile(writeFile(t, "data = \"x\"\nlisten = [\n"))
	if err == nil || !strings.Contains(err.Error(), ":2:") && !strings.Contains(err.Error(), ":3:") {
		t.Errorf("got %v, want an error with a line number", err)
	}
}

func TestLoadFileShapes(t *testing.T) {
	c := config.Default()
	err := c.LoadFile(writeFile(t, `data = "/var/lib/usher"
listen = ["127.0.0.1:1", "127.0.0.1:2"]
vendor_key = "a.pub, b.pub"
log_max_size = "200KB"
rate_limit = { requests = 200 }
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Listen, (config.List{"127.0.0.1:1", "127.0.0.1:2"}); !reflect.DeepEqual(got, want) {
		t.Errorf("listen: got %q, want %q", got, want)
	}
	if got, want := c.VendorKey, (config.List{"a.pub", "b.pub"}); !reflect.DeepEqual(got, want) {
		t.Errorf("vendor_key from one string: got %q, want %q", got, want)
	}
	if got, want := c.LogMaxSize, 200*config.KB; got != want {
		t.Errorf("log_max_size: got %d, want %d", got, want)
	}
	// A table that sets one entry leaves the other at its default.
	want := config.RateLimitConfig{Requests: 200, Interval: config.Duration(config.DefaultRateLimitInterval)}
	if c.RateLimit != want {
		t.Errorf("rate_limit: got %+v, want %+v", c.RateLimit, want)
	}

	flat := config.Default()
	if err := flat.LoadFile(writeFile(t, "rate_limit_requests = 7\nrate_limit_interval = \"2s\"\n")); err != nil {
		t.Fatal(err)
	}
	want = config.RateLimitConfig{Requests: 7, Interval: config.Duration(2 * time.Second)}
	if flat.RateLimit != want {
		t.Errorf("flat rate_limit keys: got %+v, want %+v", flat.RateLimit, want)
	}
}

// TestPrecedence sets one key in all three sources, then takes them away
// one by one: flags beat the environment, which beats the file.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "keepalive_timeout = \"60s\"\nlisten = [\"127.0.0.1:1\"]\n")
	env := func(name string) string {
		return map[string]string{"USHER_KEEPALIVE_TIMEOUT": "90s"}[name]
	}
	parse := func(args ...string) *config.Flags {
		fs := flag.NewFlagSet("server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := config.BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name string
		src  config.Sources
		want time.Duration
	}{
		{"defaults", config.Sources{}, config.DefaultKeepaliveTimeout},
		{"file", config.Sources{File: file}, 60 * time.Second},
		{"file and env", config.Sources{File: file, Env: env}, 90 * time.Second},
		{"file, env and flag", config.Sources{File: file, Env: env, Flags: parse("--keepalive-timeout", "120s")}, 120 * time.Second},
		{"file and flag", config.Sources{File: file, Flags: parse("--keepalive-timeout=30s")}, 30 * time.Second},
	} {
		c, err := config.Load(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := time.Duration(c.KeepaliveTimeout); got != tc.want {
			t.Errorf("%s: keepalive_timeout %v, want %v", tc.name, got, tc.want)
		}
	}
	c, err := config.Load(config.Sources{File: file, Env: env, Flags: parse("--listen", "a:1", "--listen", "b:2,c:3")})
	if err != nil || c.Listen.String() != "a:1,b:2,c:3" {
		t.Errorf("repeated list flag: got %q, %v; want a:1,b:2,c:3", c.Listen, err)
	}
}

func TestLoadErrorsNameTheSource(t *testing.T) {
	env := func(name string) string { return map[string]string{"USHER_LOG_LEVEL": "loud"}[name] }
	if _, err := config.Load(config.Sources{Env: env}); err == nil || !strings.HasPrefix(err.Error(), "environment USHER_LOG_LEVEL: log_level:") {
		t.Errorf("bad environment value: got %v", err)
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	f := config.BindFlags(fs)
	if err := fs.Parse([]string{"--log-max-size", "huge"}); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(config.Sources{Flags: f}); err == nil || !strings.HasPrefix(err.Error(), "flag --log-max-size: log_max_size:") {
		t.Errorf("bad flag value: got %v", err)
	}
}
