package daemon_test

import (
	"context"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// Two servers on one data directory would each decide alone on one store
// and hand out every seat twice: the second must refuse to start, and
// start once the first has stopped.
func TestSecondServerOnTheSameDataDirectoryRefusesToStart(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 1}})
	cfg := s.Config
	cfg.Listen = []string{"127.0.0.1:0"}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
	if err == nil {
		d.Close()
		t.Fatal("a second server started on a data directory in use")
	}
	if !strings.Contains(err.Error(), "in use by another usher server") {
		t.Errorf("got %q, want it to say the data directory is in use", err)
	}
	s.Close()
	d, err = daemon.Start(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatalf("start after the first server stopped: %v", err)
	}
	d.Close()
}
