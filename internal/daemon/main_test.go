package daemon_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// testConfig returns a valid configuration over a fresh data directory,
// listening on 127.0.0.1:0.
func testConfig(t *testing.T) daemon.Config {
	t.Helper()
	dir := t.TempDir()
	pub := filepath.Join(dir, "vendor.pub")
	if err := daemon.WriteVendorKeys(filepath.Join(dir, "vendor.key"), pub); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.DefaultConfig()
	cfg.Data = filepath.Join(dir, "data")
	cfg.VendorKey = []string{pub}
	cfg.Listen = []string{"127.0.0.1:0"}
	return cfg
}

// MustStartLogged starts a daemon and closes it when the test ends. Its log
// goes to the returned buffer.
func MustStartLogged(t *testing.T, cfg daemon.Config) (*daemon.Daemon, *ushertest.Buffer) {
	t.Helper()
	var log ushertest.Buffer
	d := ushertest.StartDaemon(t, cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	return d, &log
}
