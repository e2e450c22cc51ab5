package ushertest

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of the program name on PATH. When there is none,
// the test is skipped, or fails if USHER_REQUIRE_<part>=1 (as .ci/run sets
// for every part it installs).
func Tool(tb testing.TB, name, part string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	env := "USHER_REQUIRE_" + part
	msg := name + " is not on PATH: install it to run this test"
	if os.Getenv(env) == "1" {
		tb.Fatal(msg + " (" + env + "=1 makes this a failure)")
	}
	tb.Skip(msg)
	return ""
}
