package daemon_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestDebugLogsRequests checks that log_level 4 logs each request's
// method, route, status and duration, and that level 3 logs none, also
// when the level changes while the server runs.
func TestDebugLogsRequests(t *testing.T) {
	for _, tc := range []struct {
		level, liveLevel int
		want             bool
	}{
		{level: 4, want: true},
		{level: 3, want: false},
		{level: 3, liveLevel: 4, want: true},
		{level: 4, liveLevel: 3, want: false},
	} {
		var log ushertest.Buffer
		logger := daemon.NewLogger(daemon.Config{LogLevel: tc.level}, &log)
		srv := ushertest.StartServer(t, ushertest.ServerOptions{
			Configure: func(c *daemon.Config) { c.LogLevel = tc.level },
			Daemon:    daemon.Options{Logger: logger.Logger, LogLevel: logger.Level},
		})
		if tc.liveLevel != 0 {
			req := wire.SettingsRequest{Set: map[string]string{"log_level": strconv.Itoa(tc.liveLevel)}}
			if _, err := srv.Admin().ChangeSettings(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
		for path, want := range map[string]int{"/healthz": http.StatusOK, "/v1/leases/ls_nosuchlease/heartbeat": http.StatusMethodNotAllowed} {
			if got, body := get(t, http.DefaultClient, srv.URL()+path, nil); got != want {
				t.Errorf("GET %s: status %d, want %d: %s", path, got, want, body)
			}
		}
		srv.Close()
		for _, line := range []string{
			`level=DEBUG msg=request method=GET route="GET /healthz" status=200 duration=`,
			`level=DEBUG msg=request method=GET route=/ status=405 duration=`,
		} {
			if got := strings.Contains(log.String(), line); got != tc.want {
				t.Errorf("log_level %d then %d: logs %q: got %v, want %v; log:\n%s", tc.level, tc.liveLevel, line, got, tc.want, log.String())
			}
		}
	}
}
