package daemon_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

// writeConfig writes a config file and returns its path.
func writeConfig(tb testing.TB, text string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "usher.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadFileNamesTheBadKey(t *testing.T) {
	for _, tc := range []struct{ text, key string }{
		{"bogus = 1\n", `"bogus"`},
		{"[tls]\ncert = \"x\"\n", `"tls"`},
		{"keepalive_timeout = \"abc\"\n", "keepalive_timeout"},
		{"keepalive_timeout = 5\n", "keepalive_timeout"},
		{"listen = 5\n", "listen"},
		{"listen = [1, 2]\n", "listen"},
		{"dev = \"yes\"\n", "dev"},
		{"log_level = \"debug\"\n", "log_level"},
		{"event_retention = \"forever\"\n", "event_retention"},
	} {
		cfg := daemon.DefaultConfig()
		err := cfg.LoadFile(writeConfig(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: got %v, want an error naming %s", tc.text, err, tc.key)
		}
	}
}

func TestLoadFileSyntaxError(t *testing.T) {
	cfg := daemon.DefaultConfig()
	err := cfg.LoadFile(writeConfig(t, "data = \"x\"\nlisten = [\n"))
	if err == nil || !strings.Contains(err.Error(), ":2:") && !strings.Contains(err.Error(), ":3:") {
		t.Errorf("got %v, want an error with a line number", err)
	}
}

func TestLoadFile(t *testing.T) {
	cfg := daemon.DefaultConfig()
	err := cfg.LoadFile(writeConfig(t, `data = "/var/lib/usher"
listen = ["127.0.0.1:1", "127.0.0.1:2"]
vendor_key = "v.pub"
keepalive_timeout = "60s"
log_level = 4
log_format = "json"
event_retention = "48h"
dev = true
`))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Map()
	for k, want := range map[string]string{
		"data": "/var/lib/usher", "listen": "127.0.0.1:1,127.0.0.1:2", "vendor_key": "v.pub",
		"keepalive_timeout": "1m0s", "log_level": "4", "log_format": "json", "event_retention": "48h0m0s", "dev": "true",
		"connection_timeout": "30s",
	} {
		if m[k] != want {
			t.Errorf("%s: got %q, want %q", k, m[k], want)
		}
	}
}

func TestValidateNamesTheBadKey(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"keepalive_timeout", "0s"},
		{"keepalive_scan_interval", "1h"},
		{"connection_timeout", "10ms"},
		{"log_level", "5"},
		{"log_level", "-1"},
		{"log_format", "xml"},
		{"log_max_size", "0"},
		{"log_max_backups", "-1"},
		{"event_retention", "1s"},
		{"usage_retention", "1m"},
	} {
		cfg := daemon.DefaultConfig()
		cfg.Data, cfg.VendorKey = "d", []string{"v.pub"}
		if err := cfg.Set(tc.key, tc.value); err != nil {
			t.Fatalf("set %s: %v", tc.key, err)
		}
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("%s = %s: got %v, want an error naming the key", tc.key, tc.value, err)
		}
	}
}

func TestEveryKeyGetsAndSets(t *testing.T) {
	def := daemon.DefaultConfig()
	for _, k := range daemon.Keys() {
		v, err := def.Get(k.Name)
		if err != nil {
			t.Errorf("get %s: %v", k.Name, err)
			continue
		}
		var c daemon.Config
		if err := c.Set(k.Name, v); err != nil {
			t.Errorf("set %s to its default %q: %v", k.Name, v, err)
		}
		if got, _ := c.Get(k.Name); got != v {
			t.Errorf("%s: round trip gave %q, want %q", k.Name, got, v)
		}
	}
	var c daemon.Config
	if err := c.Set("nope", "1"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown key: got %v", err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "v.pub")
	if err := daemon.WriteVendorKeys(filepath.Join(dir, "v.key"), pub); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.VendorKey = dir, []string{pub}
	if err := daemon.Check(cfg); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := cfg
	bad.VendorKey = []string{filepath.Join(dir, "missing.pub")}
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "vendor_key") {
		t.Errorf("missing vendor key: got %v", err)
	}
	bad = cfg
	bad.LogFile = filepath.Join(dir, "no", "such", "usher.log")
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "log_file") {
		t.Errorf("log_file in a missing directory: got %v", err)
	}
	bad = cfg
	bad.TLSCert, bad.TLSKey = filepath.Join(dir, "nonexist.crt"), filepath.Join(dir, "nonexist.key")
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "tls_cert") {
		t.Errorf("unreadable TLS files: got %v", err)
	}
	bad = cfg
	bad.Data = pub // a file, not a directory
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "data") {
		t.Errorf("data directory that is a file: got %v", err)
	}
	bad = cfg
	bad.Data = filepath.Join(pub, "below")
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "data") {
		t.Errorf("data directory below a file: got %v", err)
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		bad = cfg
		bad.Data = "/proc/nope"
		if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "data") {
			t.Errorf("data directory that cannot be created: got %v", err)
		}
	}
	fresh := cfg
	fresh.Data = filepath.Join(dir, "new", "data")
	if err := daemon.Check(fresh); err != nil {
		t.Errorf("data directory to be created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check created the data directory's parent: %v", err)
	}
	bad = cfg
	bad.Listen = []string{"127.0.0.1:99999"}
	if err := daemon.Check(bad); err == nil || !strings.HasPrefix(err.Error(), "listen") {
		t.Errorf("listen port out of range: got %v", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	cfg := daemon.DefaultConfig()
	cfg.LogLevel, cfg.LogFormat = 2, "json"
	l := daemon.NewLogger(cfg, &buf)
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("level 2 json: got %q", s)
	}
	buf.Reset()
	l.Level.Set(daemon.SlogLevel(0))
	l.Error("quiet")
	if buf.Len() != 0 {
		t.Errorf("level 0 logged %q", buf.String())
	}

	cfg = daemon.DefaultConfig()
	cfg.LogFile = filepath.Join(t.TempDir(), "usher.log")
	fl := daemon.NewLogger(cfg, &buf)
	fl.Info("to the file")
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.LogFile)
	if err != nil || !strings.Contains(string(data), "msg=\"to the file\"") {
		t.Errorf("log file: got %q, %v", data, err)
	}
	if buf.Len() != 0 {
		t.Errorf("stderr got %q while logging to a file", buf.String())
	}
}

// TestLogRotatesBelowOneMegabyte writes about 300KB of log to a file
// limited to 200KB: it must rotate once, near 200KB and never past it.
func TestLogRotatesBelowOneMegabyte(t *testing.T) {
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.LogFile = filepath.Join(dir, "usher.log")
	if err := cfg.Set("log_max_size", "200KB"); err != nil {
		t.Fatal(err)
	}
	l := daemon.NewLogger(cfg, io.Discard)
	line := strings.Repeat("x", 90)
	for range 3000 { // about 300KB with the time and level
		l.Info(line)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("got %d files, want usher.log and one rotated file", len(entries))
	}
	const limit = 200 << 10
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		rotated := e.Name() != "usher.log"
		if info.Size() > limit || rotated && info.Size() < limit-200 {
			t.Errorf("%s: %d bytes, want at most %d (and, once rotated, within a line of it)", e.Name(), info.Size(), limit)
		}
	}
}
