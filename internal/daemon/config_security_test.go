package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/daemon"
)

func TestSecurityConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.toml")
	toml := `
data = "/var/lib/usher"
vendor_key = ["vendor.pub"]
listen = ["0.0.0.0:7420", "[::]:7420"]
tls_cert = "server.crt"
tls_key = "server.key"
client_password = "lan secret"
max_request_size = 65536
read_header_timeout = "5s"
read_timeout = "20s"
max_connections = 5000
max_connections_per_address = 50
login_ttl = "1h"
rate_limit = { requests = 200, interval = "5s" }
max_leases_per_address = 100
`
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.DefaultConfig()
	if err := cfg.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := daemon.Security{
		TLSCert: "server.crt", TLSKey: "server.key", ClientPassword: "lan secret", MaxRequestSize: 65536,
		ReadHeaderTimeout: daemon.Duration(5 * time.Second), LoginTTL: daemon.Duration(time.Hour),
		RateLimit:   daemon.RateLimitConfig{Requests: 200, Interval: daemon.Duration(5 * time.Second)},
		ReadTimeout: daemon.Duration(20 * time.Second), MaxConnections: 5000, MaxConnectionsPerAddress: 50,
		MaxLeasesPerAddress: 100, MaxWaitersPerAddress: 500, // the default
	}
	if cfg.Security != want {
		t.Errorf("got %+v\nwant %+v", cfg.Security, want)
	}
}

func TestSecurityKeysSet(t *testing.T) {
	cfg := daemon.DefaultConfig()
	for k, v := range map[string]string{"rate_limit_requests": "50", "rate_limit_interval": "10s", "tls_auto": "true", "max_request_size": "4096"} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	if cfg.RateLimit.Requests != 50 || cfg.RateLimit.Interval != daemon.Duration(10*time.Second) || !cfg.TLSAuto || cfg.MaxRequestSize != 4096 {
		t.Errorf("got %+v", cfg.Security)
	}
	names := map[string]bool{}
	for _, k := range daemon.Keys() {
		names[k.Name] = true
	}
	for _, k := range []string{"tls_cert", "tls_key", "tls_auto", "tls_client_ca", "client_password", "login_ttl",
		"rate_limit_requests", "rate_limit_interval", "max_request_size", "read_header_timeout"} {
		if !names[k] {
			t.Errorf("Keys() lacks %s", k)
		}
		if err := cfg.Set(k, "x"); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("Set does not know %s", k)
		}
	}
}

func TestSecurityConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"tls_cert", "a.crt", "tls_cert, tls_key"},
		{"rate_limit_requests", "-1", "rate_limit.requests"},
		{"max_request_size", "10", "max_request_size"},
		{"tls_client_ca", "ca.pem", "tls_client_ca"},
		{"login_ttl", "1s", "login_ttl"},
	} {
		cfg := daemon.DefaultConfig()
		cfg.Data, cfg.VendorKey = "d", []string{"v"}
		if err := cfg.Set(tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s = %s: got %v, want an error about %s", tc.key, tc.value, err, tc.want)
		}
	}
}
