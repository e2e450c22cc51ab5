package daemon_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

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
func MustStartLogged(t *testing.T, cfg daemon.Config) (*daemon.Daemon, *syncBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, &log
}
