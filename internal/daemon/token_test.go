package daemon_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// TestAdminTokenCreationIsLoggedOnce: a single server logs that it created
// its admin token on its first start, and not again when it restarts on
// the same data. (TestClusterBootstrapsOneAdmin checks a cluster's nodes.)
func TestAdminTokenCreationIsLoggedOnce(t *testing.T) {
	var log ushertest.Buffer
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Daemon: daemon.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}})
	srv.Restart()
	if got := strings.Count(log.String(), "created admin token"); got != 1 {
		t.Errorf("logged %d times that it created the admin token, want 1:\n%s", got, log.String())
	}
	if strings.Contains(log.String(), "adopted") {
		t.Errorf("a single server logged that it adopted an admin token:\n%s", log.String())
	}
}
