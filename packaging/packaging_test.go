// Package packaging_test checks the release artifacts that make dist
// builds (the .deb and .rpm, the container image) and the deployment
// files under deploy/, as a user would install and run them. The tests
// skip when their tools or the artifacts are absent, unless
// USHER_REQUIRE_PACKAGES=1 (set by the CI script, after make dist).
package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// require skips the test for want of what, or fails it under
// USHER_REQUIRE_PACKAGES=1.
func require(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("USHER_REQUIRE_PACKAGES") == "1" {
		t.Fatalf("%s (USHER_REQUIRE_PACKAGES=1 makes this a failure)", what)
	}
	t.Skip(what)
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// distDir is where make dist put the artifacts: $USHER_DIST, else the
// repository's dist/.
func distDir() string {
	if d := os.Getenv("USHER_DIST"); d != "" {
		return d
	}
	return filepath.Join("..", "dist")
}

// artifact returns the one file of dist matching pattern, or "".
func artifact(t *testing.T, pattern string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(distDir(), pattern))
	if len(matches) != 1 {
		return ""
	}
	abs, err := filepath.Abs(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// run runs a command and returns its output, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
