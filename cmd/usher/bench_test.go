package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary act as the usher binary, so that
// `usher bench` can start it as a child `usher server`.
const childEnv = "USHER_TEST_AS_MAIN" // see TestMain in main_test.go

// runBenchCLI runs the usher command line in process.
func runBenchCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	return out.String(), errb.String(), code
}

func TestBenchJSON(t *testing.T) {
	out, errOut, code := runBenchCLI(t, "bench", "--spawn", "--scenario", "checkout-release", "--clients", "3", "--duration", "300ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Scenario string           `json:"scenario"`
		Clients  int              `json:"clients"`
		Ops      int64            `json:"ops"`
		Errors   map[string]int64 `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res.Scenario != "checkout-release" || res.Clients != 3 || res.Ops == 0 || len(res.Errors) != 0 {
		t.Errorf("got %+v, want checkout-release with 3 clients, some ops and no errors", res)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing in --json mode", errOut)
	}
}

// TestBenchHoldChildProcess runs hold against `usher server` in a child
// process and reads that process's memory and CPU.
func TestBenchHoldChildProcess(t *testing.T) {
	t.Setenv(childEnv, "1")
	out, errOut, code := runBenchCLI(t, "bench", "--spawn", "--scenario", "hold", "--clients", "10", "--duration", "300ms", "--interval", "30ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"spawned as child process", "server RSS", "RSS per lease", "errors         none"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	_, errOut, code := runBenchCLI(t, "bench", "--scenario", "nope", "--spawn")
	if code != 1 || !strings.Contains(errOut, "unknown scenario") {
		t.Errorf("exit %d, stderr %q: want 1 and unknown scenario", code, errOut)
	}
	_, errOut, code = runBenchCLI(t, "bench", "-h")
	if code != 0 || !strings.Contains(errOut, "startup") {
		t.Errorf("exit %d, stderr %q: want 0 and the scenario list", code, errOut)
	}
}
