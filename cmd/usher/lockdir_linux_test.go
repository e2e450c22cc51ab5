package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockDirStopsACopyInAnotherNetworkNamespace runs a copy of a data
// directory in a network namespace of its own, as a container with its own
// network runs: the abstract socket lock cannot see the first server
// there, and the shared identity_lock_dir is what keeps the copy from
// serving bound licenses until the first server dies.
func TestLockDirStopsACopyInAnotherNetworkNamespace(t *testing.T) {
	if err := exec.Command("unshare", "--net", "true").Run(); err != nil {
		if os.Getenv("USHER_REQUIRE_NETNS") == "1" {
			t.Fatalf("network namespaces are required (USHER_REQUIRE_NETNS=1): %v", err)
		}
		t.Skipf("network namespaces are not available here (run as root with util-linux): %v", err)
	}
	dir, pub, _ := vendorFixture(t, "cad=1")
	data, copied, locks := filepath.Join(dir, "data"), filepath.Join(dir, "copy"), filepath.Join(dir, "locks")
	first := startServerProc(t, "--data", data, "--vendor-key", pub, "--identity-lock-dir", locks)
	copyTree(t, data, copied)
	logs := startInNetns(t, "--data", copied, "--vendor-key", pub, "--identity-lock-dir", locks)
	waitLog(t, logs, "bound licenses are not served", filepath.Join(locks, "identity-"))
	first.kill9(t)
	waitLog(t, logs, "bound licenses served")
}

// startInNetns runs a server in a new network namespace (loopback only)
// and returns the lines it logs.
func startInNetns(t *testing.T, args ...string) <-chan string {
	t.Helper()
	script := `ip link set lo up && exec "$0" "$@"`
	cmd := exec.Command("unshare", append([]string{"--net", "sh", "-c", script, os.Args[0], "server", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "USHER_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// waitLog waits for a line that holds every one of want.
func waitLog(t *testing.T, lines <-chan string, want ...string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the server ended before logging %q", want)
			}
			if containsAll(line, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q within 15s", want)
		}
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
