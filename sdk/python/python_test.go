// Package python_test runs the tests of the Python SDK (sdk/python)
// against a real server, with pytest when it is installed and unittest
// otherwise, and runs its example.
package python_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// startServer starts a server with one seat of cad, two of cam and three
// of sec (in Licensee Secret client mode), and a short keep-alive so that
// heartbeats come often.
func startServer(t *testing.T) *ushertest.Server {
	const keepalive = 2 * time.Second
	s := ushertest.StartServer(t, ushertest.ServerOptions{
		Seats: map[string]int{"cad": 1, "cam": 2},
		Configure: func(cfg *daemon.Config) {
			cfg.KeepaliveTimeout = daemon.Duration(keepalive)
			cfg.KeepaliveScanInterval = daemon.Duration(keepalive / 4)
		},
	})
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "sec", Seats: 3}}, LicenseeSecret: usher.SecretClient}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	return s
}

// env is the environment of the Python processes: the package on the
// path, no bytecode written into the tree, no client credential.
func env(extra ...string) []string {
	return append(os.Environ(), append([]string{"PYTHONPATH=.", "PYTHONDONTWRITEBYTECODE=1", "USHER_CLIENT_TOKEN="}, extra...)...)
}

func TestPythonSDK(t *testing.T) {
	python := ushertest.Tool(t, "python3", "PYTHON")
	s := startServer(t)
	tls := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 1}, Configure: func(cfg *daemon.Config) { cfg.TLSAuto = true }})
	vars := []string{"USHER_TEST_SERVER=" + s.Addr(), "USHER_TEST_ADMIN_TOKEN=" + s.Token, // read before a restart may change s
		"USHER_TEST_TLS_SERVER=https://" + tls.Addr(), "USHER_TEST_TLS_FINGERPRINT=" + tls.Daemon.TLSFingerprint()}
	// The tests ask for a restart over HTTP; only the Go side can do it.
	// control.Close, a cleanup that runs before the server's, waits for
	// the handler to return.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/restart" {
			http.NotFound(w, r)
			return
		}
		s.Restart()
	}))
	t.Cleanup(control.Close)

	args := []string{"-m", "unittest", "discover", "-s", "tests", "-v"}
	if exec.Command(python, "-c", "import pytest").Run() == nil {
		args = []string{"-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"}
	}
	cmd := exec.Command(python, args...)
	cmd.Env = env(append(vars, "USHER_TEST_CONTROL="+control.URL)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "skipped") {
		t.Fatalf("Python tests were skipped, with every variable they need set:\n%s", out)
	}
	t.Logf("%s", out)
}

func TestPythonExample(t *testing.T) {
	python := ushertest.Tool(t, "python3", "PYTHON")
	s := startServer(t)
	cmd := exec.Command(python, "examples/checkout.py", "cad")
	cmd.Env = env("USHER_SERVER=" + s.Addr())
	cmd.Stdin = strings.NewReader("\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/checkout.py: %v\n%s", err, out)
	}
	if want := "checked out cad\nreleased cad\n"; string(out) != want {
		t.Errorf("examples/checkout.py printed %q, want %q", out, want)
	}
	if n := len(s.Ledger().Leases()); n != 0 {
		t.Errorf("the server holds %d leases after the example, want 0", n)
	}
}

// TestDocExample checks that docs/sdk-python.md shows the example the test
// runs, as it is.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sdk-python.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("examples/checkout.py")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```python\n"+string(src)+"```\n") {
		t.Error("docs/sdk-python.md does not show examples/checkout.py as it is: copy the file into its code block")
	}
}
