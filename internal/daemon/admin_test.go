package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines after all tests. etcd's own
// long-lived goroutines are ignored, and so is the one goroutine per log
// file that lumberjack v2's Close does not stop (only TestLogger opens a
// log file).
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		ignore := append(etcdtest.IgnoredGoroutines(), goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
		if err := goleak.Find(ignore...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// devConfig is a dev-mode configuration in dir on 127.0.0.1:0: a demo
// license with 5 seats of feature "demo".
func devConfig(tb testing.TB, dir string) daemon.Config {
	tb.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Dev, cfg.Data, cfg.Listen = true, dir, []string{"127.0.0.1:0"}
	if err := daemon.PrepareDev(&cfg); err != nil {
		tb.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// MustStart starts a daemon, closed at the end of the test, and returns it
// with an admin client.
func MustStart(tb testing.TB, cfg daemon.Config, opts daemon.Options) (*daemon.Daemon, *apiclient.Client) {
	tb.Helper()
	d := ushertest.StartDaemon(tb, cfg, opts)
	return d, ushertest.AdminClient(tb, d)
}

func checkout(tb testing.TB, c *apiclient.Client, id, user string) wire.LeaseResponse {
	tb.Helper()
	l, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id, User: user, Host: "h1"}})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func eventTypes(recs []wire.Event) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func TestEventsUsageAndKick(t *testing.T) {
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{Version: "9.9.9"})
	ctx := context.Background()
	checkout(t, c, "c1", "alice")
	checkout(t, c, "c2", "alice")
	bob := checkout(t, c, "c3", "bob")
	kicked, err := c.Kick(ctx, wire.KickRequest{User: "alice"})
	if err != nil || len(kicked) != 2 {
		t.Fatalf("kick alice: got %v, %v; want 2 leases", kicked, err)
	}
	if _, err := c.Kick(ctx, wire.KickRequest{}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("kick with no filter: got %v, want %s", err, usher.EInvalid)
	}
	leases, _ := c.Leases(ctx)
	if len(leases) != 1 || leases[0].ID != bob.ID {
		t.Errorf("after kick: got %+v, want only bob's lease", leases)
	}

	recs, err := c.Events(ctx, wire.EventsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := "server_started license_added lease_granted lease_granted lease_granted lease_kicked lease_kicked"
	if got := strings.Join(eventTypes(recs), " "); got != want {
		t.Errorf("events: got %s, want %s", got, want)
	}
	granted, err := c.Events(ctx, wire.EventsQuery{Type: "lease_granted", Feature: daemon.DevFeature, Limit: 2})
	if err != nil || len(granted) != 2 {
		t.Errorf("filtered events: got %d, %v; want 2", len(granted), err)
	}
	if _, err := c.Events(ctx, wire.EventsQuery{Type: "bogus"}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("bad type: got %v", err)
	}
	if _, err := c.Events(ctx, wire.EventsQuery{Since: "yesterday"}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("bad since: got %v", err)
	}

	u, err := c.Usage(ctx, wire.UsageQuery{Feature: daemon.DevFeature, From: "1h", Step: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Usage) != 1 || u.Usage[0].Checkouts != 3 || u.Usage[0].Peak != 3 {
		t.Errorf("usage: got %+v, want one step with 3 checkouts and peak 3", u.Usage)
	}
	if _, err := c.Usage(ctx, wire.UsageQuery{Step: "90s"}); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("bad step: got %v", err)
	}
}

// TestObservabilityAccessMatrix calls every event, usage, metrics and
// administration endpoint with no credential and as each role.
func TestObservabilityAccessMatrix(t *testing.T) {
	_, admin := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{})
	ctx := context.Background()
	as := func(role string) *apiclient.Client {
		if role == "" {
			return admin.WithToken("")
		}
		tok, err := admin.CreateToken(ctx, role+"-token", role)
		if err != nil {
			t.Fatal(err)
		}
		return admin.WithToken(tok.Token)
	}
	type call struct {
		name      string
		adminOnly bool
		do        func(c *apiclient.Client) error
	}
	calls := []call{
		{"events", false, func(c *apiclient.Client) error { _, err := c.Events(ctx, wire.EventsQuery{}); return err }},
		{"usage", false, func(c *apiclient.Client) error { _, err := c.Usage(ctx, wire.UsageQuery{}); return err }},
		{"metrics", false, func(c *apiclient.Client) error { _, err := c.Metrics(ctx); return err }},
		{"info", false, func(c *apiclient.Client) error { _, err := c.Info(ctx); return err }},
		{"settings", false, func(c *apiclient.Client) error { _, err := c.Settings(ctx); return err }},
		{"stream", false, func(c *apiclient.Client) error {
			sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			err := c.StreamEvents(sctx, wire.EventsQuery{}, func(wire.Event) error { return nil })
			if sctx.Err() != nil && usher.ErrorCode(err) != usher.EUnauthorized && usher.ErrorCode(err) != auth.EForbidden {
				return nil // the stream was open until the deadline
			}
			return err
		}},
		{"kick", true, func(c *apiclient.Client) error { _, err := c.Kick(ctx, wire.KickRequest{User: "nobody"}); return err }},
		{"set settings", true, func(c *apiclient.Client) error {
			_, err := c.ChangeSettings(ctx, wire.SettingsRequest{Set: map[string]string{"log_level": "3"}})
			return err
		}},
		{"reload", true, func(c *apiclient.Client) error {
			_, err := c.Reload(ctx)
			if usher.ErrorCode(err) == usher.EInvalid {
				return nil // authorized; this server has no config file to reload
			}
			return err
		}},
		{"shutdown", true, nil}, // only refusals are tried: an admin would stop the server
	}
	for _, who := range []string{"", "client", "monitor", "admin"} {
		c := as(who)
		for _, cl := range calls {
			want := ""
			switch {
			case who == "":
				want = usher.EUnauthorized
			case who == "client" || (who == "monitor" && cl.adminOnly):
				want = auth.EForbidden
			}
			if cl.do == nil {
				if want == "" {
					continue
				}
				cl.do = func(c *apiclient.Client) error { return c.Shutdown(ctx) }
			}
			if got := usher.ErrorCode(cl.do(c)); got != want {
				t.Errorf("%s as %q: got code %q, want %q", cl.name, who, got, want)
			}
		}
	}
}

func TestEventStream(t *testing.T) {
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan wire.Event, 16)
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- c.StreamEvents(ctx, wire.EventsQuery{Type: "lease_granted"}, func(r wire.Event) error {
			got <- r
			return nil
		})
	}()
	// The subscription starts when the server answers; check out until the
	// stream sees one.
	var first wire.Event
	for i := 0; first.ID == 0; i++ {
		checkout(t, c, "s"+string(rune('a'+i)), "alice")
		select {
		case first = <-got:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event on the stream within 10s")
		}
	}
	if first.Type != usher.EventLeaseGranted || first.Client.User != "alice" {
		t.Errorf("streamed %+v, want alice's lease_granted", first)
	}
	cancel()
	if err := <-streamDone; !errors.Is(err, context.Canceled) {
		t.Errorf("stream ended with %v, want context.Canceled", err)
	}

	// Reconnecting after an id replays what came later.
	checkout(t, c, "late", "carol")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	err := c.StreamEvents(ctx2, wire.EventsQuery{Type: "lease_granted", AfterID: first.ID}, func(r wire.Event) error {
		if r.Client.User == "carol" {
			return io.EOF // found it
		}
		return nil
	})
	if !errors.Is(err, io.EOF) {
		t.Errorf("replay after id %d: got %v, want carol's lease", first.ID, err)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{Version: "1.0.0"})
	ctx := context.Background()
	checkout(t, c, "m1", "alice")
	c.Checkout(ctx, wire.CheckoutRequest{Feature: "nope", Client: usher.Client{ID: "m2"}})
	text, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`usher_feature_seats{feature="demo"} 5`,
		`usher_feature_seats_in_use{feature="demo"} 1`,
		`usher_leases 1`,
		`usher_checkouts_total{feature="demo"} 1`,
		`usher_checkout_denials_total{feature="nope",reason="feature_not_found"} 1`,
		`usher_http_request_duration_seconds_count{code="201",route="POST /v1/leases"} 1`,
		`usher_store_commit_duration_seconds_count{op="put_lease"} 1`,
		`usher_build_info{goversion=`,
		`usher_event_subscribers 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("promtool check metrics on a live server: %v\n%s", err, out)
		}
	}
}

func TestInfo(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	_, c := MustStart(t, cfg, daemon.Options{Version: "2.3.4"})
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "2.3.4" || info.DataDir != cfg.Data || len(info.HardwareID) != 20 || info.Uptime == "" {
		t.Errorf("info: got %+v", info)
	}
	if info.Config["keepalive_timeout"] != "3m0s" || info.Config["dev"] != "true" {
		t.Errorf("effective config: got %v", info.Config)
	}
	if info.Config["cluster_name"] != daemon.DefaultClusterName || info.Config["node_name"] == "" {
		t.Errorf("cluster_name %q, node_name %q: want the defaults in effect (%s, the host name)", info.Config["cluster_name"], info.Config["node_name"], daemon.DefaultClusterName)
	}
	if daemon.HardwareID() != info.HardwareID {
		t.Error("hardware id is not stable")
	}
}

func setting(t *testing.T, c *apiclient.Client, key string) wire.Setting {
	t.Helper()
	all, err := c.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no setting %s in %+v", key, all)
	return wire.Setting{}
}

func TestSettingsPersistAndReset(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	d, c := MustStart(t, cfg, daemon.Options{})
	ctx := context.Background()
	res, err := c.ChangeSettings(ctx, wire.SettingsRequest{Set: map[string]string{"keepalive_timeout": "60s", "log_level": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 2 {
		t.Errorf("changed: got %+v, want 2 changes", res.Changed)
	}
	if got := d.Ledger().KeepaliveTimeout(); got != time.Minute {
		t.Errorf("ledger keep-alive: got %v, want 1m", got)
	}
	for _, bad := range []map[string]string{
		{"keepalive_timeout": "soon"},
		{"keepalive_timeout": "0s"},
		{"listen": "127.0.0.1:1"},
		{"no_such_key": "1"},
	} {
		_, err := c.ChangeSettings(ctx, wire.SettingsRequest{Set: bad})
		for k := range bad {
			if usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), k) {
				t.Errorf("set %v: got %v, want %s naming %s", bad, err, usher.EInvalid, k)
			}
		}
	}
	changed, _ := c.Events(ctx, wire.EventsQuery{Type: eventlog.EventConfigChanged})
	if len(changed) != 2 || !strings.Contains(changed[0].Reason, "=") {
		t.Errorf("config_changed events: got %+v, want 2", changed)
	}

	// A restart keeps the runtime value.
	d.Close()
	d, c = MustStart(t, cfg, daemon.Options{})
	if s := setting(t, c, "keepalive_timeout"); s.Value != "1m0s" || s.Source != "runtime" {
		t.Errorf("after restart: got %+v, want 1m0s from runtime", s)
	}
	if got := d.Ledger().KeepaliveTimeout(); got != time.Minute {
		t.Errorf("ledger keep-alive after restart: got %v, want 1m", got)
	}
	if _, err := c.ChangeSettings(ctx, wire.SettingsRequest{Reset: []string{"keepalive_timeout"}}); err != nil {
		t.Fatal(err)
	}
	if s := setting(t, c, "keepalive_timeout"); s.Value != "3m0s" || s.Source != "config" {
		t.Errorf("after reset: got %+v, want 3m0s from config", s)
	}
}

func TestRefusedSettingsChangeChangesNothing(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	d, c := MustStart(t, cfg, daemon.Options{})
	ctx := context.Background()
	for _, req := range []wire.SettingsRequest{
		{Set: map[string]string{"keepalive_timeout": "60s"}, Reset: []string{"no_such_key"}},
		{Set: map[string]string{"keepalive_timeout": "60s"}, Reset: []string{"listen"}},
		{Set: map[string]string{"keepalive_timeout": "60s", "log_level": "4"}, Reset: []string{"log_level"}},
	} {
		if _, err := c.ChangeSettings(ctx, req); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("change %+v: got %v, want %s", req, err, usher.EInvalid)
		}
	}
	check := func(when string) {
		t.Helper()
		if s := setting(t, c, "keepalive_timeout"); s.Value != "3m0s" || s.Source != "config" {
			t.Errorf("%s: got %+v, want 3m0s from config", when, s)
		}
		if got := d.Ledger().KeepaliveTimeout(); got != 3*time.Minute {
			t.Errorf("%s: ledger keep-alive %v, want 3m", when, got)
		}
	}
	check("after refused changes")
	if changed, _ := c.Events(ctx, wire.EventsQuery{Type: eventlog.EventConfigChanged}); len(changed) != 0 {
		t.Errorf("config_changed events: got %+v, want none", changed)
	}
	d.Close()
	d, c = MustStart(t, cfg, daemon.Options{})
	check("after a restart")

	res, err := c.ChangeSettings(ctx, wire.SettingsRequest{Set: map[string]string{"keepalive_timeout": "60s"}, Reset: []string{"log_level"}})
	if err != nil || len(res.Changed) != 1 || res.Changed[0].Key != "keepalive_timeout" {
		t.Fatalf("valid set and reset: got %+v, %v, want keepalive_timeout changed", res, err)
	}
}

func TestReload(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	var mu sync.Mutex
	next := cfg
	reload := func() (daemon.Config, error) { mu.Lock(); defer mu.Unlock(); return next, nil }
	d, c := MustStart(t, cfg, daemon.Options{Reload: reload})
	ctx := context.Background()
	mu.Lock()
	next.KeepaliveTimeout = daemon.Duration(90 * time.Second)
	next.Listen = []string{"127.0.0.1:7999"}
	mu.Unlock()
	res, err := c.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.Applied[0].Key != "keepalive_timeout" || res.Applied[0].New != "1m30s" {
		t.Errorf("applied: got %+v", res.Applied)
	}
	if len(res.RestartRequired) != 1 || res.RestartRequired[0].Key != "listen" {
		t.Errorf("restart required: got %+v", res.RestartRequired)
	}
	if got := d.Ledger().KeepaliveTimeout(); got != 90*time.Second {
		t.Errorf("ledger keep-alive: got %v, want 90s", got)
	}
	// A runtime value wins over the file on reload.
	if _, err := c.ChangeSettings(ctx, wire.SettingsRequest{Set: map[string]string{"keepalive_timeout": "2m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Ledger().KeepaliveTimeout(); got != 2*time.Minute {
		t.Errorf("after reload with a runtime value: got %v, want 2m", got)
	}
	mu.Lock()
	next.LogFormat = "xml"
	mu.Unlock()
	if _, err := c.Reload(ctx); usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), "log_format") {
		t.Errorf("reload of a bad config: got %v, want an error naming log_format", err)
	}
	if _, err := d.Reload(ctx); err == nil {
		t.Error("reload of a bad config through the daemon: no error")
	}
}

func TestReloadWithoutSource(t *testing.T) {
	_, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{})
	if _, err := c.Reload(context.Background()); usher.ErrorCode(err) != usher.EInvalid {
		t.Errorf("got %v, want %s", err, usher.EInvalid)
	}
}

func TestShutdownThroughTheAPI(t *testing.T) {
	dir := t.TempDir()
	d, c := MustStart(t, devConfig(t, dir), daemon.Options{})
	checkout(t, c, "x1", "alice")
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop within 10s")
	}
	if err := c.Health(context.Background()); usher.ErrorCode(err) != usher.EUnavailable {
		t.Errorf("health after shutdown: got %v, want unavailable", err)
	}
	// The lease and the stop event were persisted.
	d2, c2 := MustStart(t, devConfig(t, dir), daemon.Options{})
	if n := len(d2.Ledger().Leases()); n != 1 {
		t.Errorf("leases after restart: got %d, want 1", n)
	}
	recs, _ := c2.Events(context.Background(), wire.EventsQuery{Type: eventlog.EventServerStopped})
	if len(recs) != 1 {
		t.Errorf("server_stopped events: got %d, want 1", len(recs))
	}
}

func TestScanIntervalChangesLive(t *testing.T) {
	clk := ushertest.NewClock(time.Now())
	cfg := devConfig(t, t.TempDir())
	cfg.KeepaliveScanInterval = daemon.Duration(time.Hour)
	cfg.KeepaliveTimeout = daemon.Duration(2 * time.Hour)
	d, c := MustStart(t, cfg, daemon.Options{Now: clk.Now})
	checkout(t, c, "x1", "alice")
	_, err := c.ChangeSettings(context.Background(), wire.SettingsRequest{Set: map[string]string{"keepalive_scan_interval": "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Hour)
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the sweeper to reclaim the lease", func() bool { return len(d.Ledger().Leases()) == 0 }))
}

func TestConnectionTimeoutChangesLive(t *testing.T) {
	d, c := MustStart(t, devConfig(t, t.TempDir()), daemon.Options{})
	if _, err := c.ChangeSettings(context.Background(), wire.SettingsRequest{Set: map[string]string{"connection_timeout": "1s"}}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.Copy(io.Discard, conn) // the body, then EOF when the server closes the idle connection
	if err != nil || time.Since(start) > 8*time.Second {
		t.Errorf("idle connection: read ended with %v after %v, want EOF after about 1s", err, time.Since(start))
	}
	resp.Body.Close()
}
