package main

import (
	"net"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/ushertest"
)

func TestHealthAnswersWhileServerRuns(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{})
	out := mustCLI(t, nil, "health", "--server", srv.URL())
	if !strings.HasPrefix(out, "ok ") {
		t.Errorf("usher health = %q, want ok", out)
	}
	// Nothing listens on a port just closed: health fails, exit 1.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	code, _, errOut := runCLI(t, nil, "health", "--server", "http://"+addr, "--timeout", "2s")
	if code != 1 || !strings.Contains(errOut, "is not healthy") {
		t.Errorf("usher health against nothing: exit %d, %q; want 1 and is not healthy", code, errOut)
	}
}

func TestServerExampleConfigWritesSettings(t *testing.T) {
	out := mustCLI(t, nil, "server", "example-config", "--set", "data=/var/lib/usher")
	if !strings.Contains(out, "\ndata = \"/var/lib/usher\"\n") || !strings.Contains(out, "\n# keepalive_timeout = \"3m0s\"\n") {
		t.Errorf("example-config output lacks the setting or a commented default:\n%s", out)
	}
	if code, _, errOut := runCLI(t, nil, "server", "example-config", "--set", "colour=red"); code == 0 || !strings.Contains(errOut, "colour") {
		t.Errorf("example-config --set colour=red: exit %d, %q; want an error naming the key", code, errOut)
	}
}
