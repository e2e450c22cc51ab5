package sqlite_test

import (
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/sqlite"
	"github.com/usher-lm/usher/internal/storetest"
	"github.com/usher-lm/usher/internal/webhook"
	"go.uber.org/goleak"
)

// TestMain fails the tests when a store's writer outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() usher.Store {
		dir := t.TempDir()
		return func() usher.Store {
			s, err := sqlite.Open(dir)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return s
		}
	})
}

func TestCloseTwice(t *testing.T) {
	s, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAuthConformance(t *testing.T) {
	storetest.RunAuth(t, func(t *testing.T) func() auth.Store {
		dir := t.TempDir()
		return func() auth.Store { return mustOpen(t, dir) }
	})
}

func TestSettingsConformance(t *testing.T) {
	storetest.RunSettings(t, func(t *testing.T) func() storetest.SettingsStore {
		dir := t.TempDir()
		return func() storetest.SettingsStore { return mustOpen(t, dir) }
	})
}

func TestWebhooksConformance(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) func() webhook.Store {
		dir := t.TempDir()
		return func() webhook.Store {
			s, err := sqlite.OpenWebhooks(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// mustOpen opens the store in dir.
func mustOpen(tb testing.TB, dir string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(dir)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func TestClockConformance(t *testing.T) {
	storetest.RunClock(t, func(t *testing.T) func() storetest.ClockStore {
		dir := t.TempDir()
		return func() storetest.ClockStore { return mustOpen(t, dir) }
	})
}
