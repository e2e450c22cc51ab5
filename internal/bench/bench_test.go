package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/bench"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// MustRun runs a bench and fails the test on error.
func MustRun(tb testing.TB, cfg bench.Config) *bench.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		tb.Fatalf("Run(%s): %v", cfg.Scenario, err)
	}
	return res
}

// checkCounts checks what holds for every result: no errors, and every
// request either measured or counted as an error.
func checkCounts(t *testing.T, res *bench.Result) {
	t.Helper()
	if len(res.Errors) != 0 {
		t.Errorf("errors = %v, want none", res.Errors)
	}
	var measured int64
	for _, l := range res.LatencyBy {
		measured += l.Count
	}
	var failed int64
	for _, n := range res.Errors {
		failed += n
	}
	if got, want := measured+failed, res.Requests; got != want {
		t.Errorf("measured %d + failed %d = %d, want requests %d", measured, failed, got, want)
	}
	if res.Elapsed <= 0 || res.OpsPerSec <= 0 {
		t.Errorf("elapsed %v, ops/s %v: want both positive", res.Elapsed, res.OpsPerSec)
	}
	if res.P50 > res.P90 || res.P90 > res.P99 || res.P99 > res.Max {
		t.Errorf("percentiles not ordered: p50 %v p90 %v p99 %v max %v", res.P50, res.P90, res.P99, res.Max)
	}
}

func TestCheckoutReleaseJSON(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Spawn: true, Clients: 4, Duration: 300 * time.Millisecond})
	checkCounts(t, res)
	co, rel := res.LatencyBy["checkout"], res.LatencyBy["release"]
	if res.Ops == 0 || rel.Count != res.Ops || co.Count < res.Ops || co.Count > res.Ops+4 {
		t.Errorf("ops %d, checkouts %d, releases %d: want releases = ops <= checkouts <= ops+clients", res.Ops, co.Count, rel.Count)
	}
	var buf bytes.Buffer
	if err := bench.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, buf.Bytes())
	}
	for _, k := range []string{"scenario", "clients", "ops", "ops_per_sec", "p50_ms", "p90_ms", "p99_ms", "max_ms", "elapsed_s", "errors"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, buf.Bytes())
		}
	}
	if got, want := obj["scenario"], bench.CheckoutRelease; got != want {
		t.Errorf("scenario = %v, want %v", got, want)
	}
	if got, want := obj["clients"], 4.0; got != want {
		t.Errorf("clients = %v, want %v", got, want)
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Errorf("JSON output has %d lines, want 1", got)
	}
}

func TestTable(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Bare, Clients: 2, Duration: 100 * time.Millisecond})
	var buf bytes.Buffer
	if err := bench.WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario", "throughput", "p99", "errors", "none", "bare"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestHeartbeat(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Heartbeat, Spawn: true, Clients: 6, Workers: 3, Duration: 300 * time.Millisecond})
	checkCounts(t, res)
	if got, want := res.LatencyBy["checkout"].Count, int64(6); got != want {
		t.Errorf("checkouts = %d, want one per client, %d", got, want)
	}
	if got, want := res.LatencyBy["heartbeat"].Count, res.Ops; got != want || got == 0 {
		t.Errorf("heartbeats = %d, want ops %d > 0", got, want)
	}
}

func TestStartup(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Startup, Spawn: true, Clients: 300, Workers: 16, Duration: 10 * time.Second})
	checkCounts(t, res)
	if got, want := res.Ops, int64(300); got != want {
		t.Errorf("clients holding a seat = %d, want %d", got, want)
	}
	if got, want := res.Requests, int64(300); got != want {
		t.Errorf("requests = %d, want one per client, %d", got, want)
	}
}

// TestStartupTooFewSeats counts refused checkouts by their code.
func TestStartupTooFewSeats(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Startup, Spawn: true, Clients: 20, Workers: 4, Seats: 15})
	if got, want := res.Ops, int64(15); got != want {
		t.Errorf("clients holding a seat = %d, want %d", got, want)
	}
	if got, want := res.Errors[usher.ENoSeats], int64(5); got != want {
		t.Errorf("errors[%s] = %d, want %d (all errors %v)", usher.ENoSeats, got, want, res.Errors)
	}
}

func TestHoldInProcess(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Hold, Spawn: true, Clients: 20, Workers: 4,
		Duration: 300 * time.Millisecond, Interval: 20 * time.Millisecond})
	checkCounts(t, res)
	// 20 leases each beating once per 20ms for 300ms: at most 300 beats,
	// however late a worker stalled by a busy host sends its beats, and
	// fewer only when the host could not keep up.
	if res.Ops < 1 || res.Ops > 300 {
		t.Errorf("heartbeats = %d, want between 1 and 300 (one per lease per interval)", res.Ops)
	}
	if res.RSS <= 0 || res.Store <= 0 || !strings.Contains(res.Usage, "this process") {
		t.Errorf("rss %d, store %d, usage %q: want memory of this process and the store size", res.RSS, res.Store, res.Usage)
	}
}

func TestRestartInProcess(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.Restart, Spawn: true, Clients: 200})
	if len(res.Errors) != 0 {
		t.Errorf("errors = %v, want none", res.Errors)
	}
	if got, want := res.Ops, int64(200); got != want {
		t.Errorf("leases restored = %d, want %d", got, want)
	}
	if res.Elapsed <= 0 || res.Setup <= 0 {
		t.Errorf("restart %vs after a fill of %vs: want both positive", res.Elapsed, res.Setup)
	}
}

// TestOpenLoop checks that --rate paces the run.
func TestOpenLoop(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Spawn: true, Clients: 4, Rate: 200, Duration: 300 * time.Millisecond})
	checkCounts(t, res)
	// The pacing caps the ops; a busy host may well fall short of the
	// cap, which is not the bench's fault, so only the cap is checked.
	if res.Ops < 1 || res.Ops > 60 {
		t.Errorf("ops = %d at 200/s for 300ms, want between 1 and 60", res.Ops)
	}
}

// TestMaxOps checks that the op cap ends a run before its duration.
func TestMaxOps(t *testing.T) {
	start := time.Now()
	res := MustRun(t, bench.Config{Scenario: bench.Bare, Clients: 3, Duration: time.Minute, MaxOps: 50})
	if got, want := res.Ops, int64(50); got != want {
		t.Errorf("ops = %d, want the cap %d", got, want)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("run took %v: the cap did not end it", el)
	}
}

// MustStartDev starts a dev-mode server on 127.0.0.1:0, closed when the
// test ends: a server the bench did not spawn.
func MustStartDev(tb testing.TB) *daemon.Daemon {
	tb.Helper()
	return ushertest.StartServer(tb, ushertest.ServerOptions{Dev: true}).Daemon
}

// TestRemoteServer loads a server the bench did not start, and checks
// that it gives back every lease it took.
func TestRemoteServer(t *testing.T) {
	ctx := context.Background()
	d := MustStartDev(t)
	res := MustRun(t, bench.Config{Scenario: bench.Heartbeat, Server: d.URL(), Feature: daemon.DevFeature,
		Clients: daemon.DevSeats, Duration: 200 * time.Millisecond})
	checkCounts(t, res)
	if !strings.Contains(res.Server, "127.0.0.1") {
		t.Errorf("server = %q, want its URL", res.Server)
	}
	fs, err := apiclient.MustNew(d.URL(), "").Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fs[0].InUse; got != 0 {
		t.Errorf("seats in use after the run = %d, want 0", got)
	}
	res = MustRun(t, bench.Config{Scenario: bench.Hold, Server: d.URL(), Feature: daemon.DevFeature,
		Clients: 2, Duration: 50 * time.Millisecond, Interval: 10 * time.Millisecond})
	if !strings.HasPrefix(res.Usage, "unknown") || res.RSS != 0 {
		t.Errorf("usage %q, rss %d: want unknown for a remote server without a pid", res.Usage, res.RSS)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  bench.Config
		want string
	}{
		{bench.Config{Scenario: "nope", Spawn: true}, "unknown scenario"},
		{bench.Config{Scenario: bench.Heartbeat}, "no server to load"},
		{bench.Config{Scenario: bench.Heartbeat, Spawn: true, Server: "http://127.0.0.1:1"}, "both"},
		{bench.Config{Scenario: bench.Restart, Server: "http://127.0.0.1:1"}, "restart needs --spawn"},
		{bench.Config{Scenario: bench.Heartbeat, Server: "127.0.0.1:1"}, "not an http:// URL"},
	} {
		_, err := bench.Run(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// TestUnreachable counts requests to a closed port as transport errors.
func TestUnreachable(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Server: "http://127.0.0.1:1", Clients: 1, MaxOps: 3})
	if got, want := res.Errors["transport"], int64(3); got != want {
		t.Errorf("errors = %v, want transport %d", res.Errors, want)
	}
}

// TestRemoteTooFewSeats checks that a run that cannot take a lease for
// every worker says so and gives back the leases it did take.
func TestRemoteTooFewSeats(t *testing.T) {
	ctx := context.Background()
	d := MustStartDev(t)
	_, err := bench.Run(ctx, bench.Config{Scenario: bench.Heartbeat, Server: d.URL(), Feature: daemon.DevFeature,
		Clients: daemon.DevSeats + 2, Duration: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "could not check out a lease for every worker") {
		t.Errorf("Run = %v, want an error about too few leases", err)
	}
	fs, err := apiclient.MustNew(d.URL(), "").Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fs[0].InUse; got != 0 {
		t.Errorf("seats in use after the run = %d, want 0", got)
	}
}

// TestRemoteCheckoutReleaseLeavesNoLease checks that a checkout-release
// run against a server it did not start gives back every lease, even those
// whose checkout or release the end of the run cut short.
func TestRemoteCheckoutReleaseLeavesNoLease(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	admin := srv.Admin()
	for run := range 3 {
		res := MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Server: srv.URL(), Feature: daemon.DevFeature,
			Clients: daemon.DevSeats, Duration: 150 * time.Millisecond})
		if res.Ops == 0 {
			t.Fatalf("run %d: no checkout-release pair completed (errors %v)", run, res.Errors)
		}
		leases, err := admin.Leases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) != 0 {
			t.Fatalf("run %d: %d leases held after the run, want none: %v", run, len(leases), leases)
		}
	}
}
