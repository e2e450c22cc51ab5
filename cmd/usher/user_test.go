package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// startDaemon runs a server in process on 127.0.0.1:0.
func startDaemon(t *testing.T, tlsAuto bool) (*daemon.Daemon, daemon.Config) {
	t.Helper()
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: func(cfg *daemon.Config) { cfg.TLSAuto = tlsAuto }})
	return s.Daemon, s.Config
}

// cli runs usher commands against one server with a private config
// directory.
type cli struct {
	t     *testing.T
	vars  map[string]string
	stdin string
}

func newCLI(t *testing.T, server string) *cli {
	t.Setenv("TMPDIR", t.TempDir()) // no dev-mode token of this machine
	return &cli{t: t, vars: map[string]string{"USHER_SERVER": server, "USHER_CONFIG_DIR": t.TempDir()}}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(c.stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return c.vars[k] }}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("usher %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func TestLoginUsersAndTokens(t *testing.T) {
	d, cfg := startDaemon(t, false)
	password, err := os.ReadFile(filepath.Join(cfg.Data, daemon.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, d.URL())
	if code, _, _ := c.run("user", "list"); code != 1 {
		t.Fatalf("user list before login: exit %d, want 1", code)
	}
	c.stdin = string(password)
	c.must("login")
	fi, err := os.Stat(filepath.Join(c.vars["USHER_CONFIG_DIR"], loginsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved login: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}

	out := c.must("user", "add", "mona", "--role", "monitor", "--generate")
	if !strings.Contains(out, "password: ") {
		t.Errorf("generated password not shown: %q", out)
	}
	if out := c.must("user", "list"); !strings.Contains(out, "mona") || !strings.Contains(out, "monitor") {
		t.Errorf("user list: %q", out)
	}
	c.stdin = "a new password\n"
	c.must("user", "passwd", "mona")

	out = c.must("token", "create", "--role", "monitor", "--name", "grafana")
	secret := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n"):])
	if !strings.HasPrefix(secret, "usher_") {
		t.Fatalf("token create output: %q", out)
	}
	if out := c.must("token", "list"); !strings.Contains(out, "grafana") || strings.Contains(out, secret) {
		t.Errorf("token list must show the name and never the secret: %q", out)
	}
	monitor := newCLI(t, d.URL())
	monitor.vars["USHER_TOKEN"] = secret
	monitor.must("leases")
	if code, _, errs := monitor.run("license", "remove", "x"); code != 1 || !strings.Contains(errs, "forbidden") {
		t.Errorf("monitor removing a license: exit %d, %q; want forbidden", code, errs)
	}
	c.must("token", "revoke", "grafana")
	if code, _, _ := monitor.run("leases"); code != 1 {
		t.Errorf("revoked token still works")
	}
	c.must("user", "remove", "mona")
	c.must("logout")
	if code, _, _ := c.run("user", "list"); code != 1 {
		t.Errorf("user list after logout: exit %d, want 1", code)
	}
}

func TestCLIPinsTLSAuto(t *testing.T) {
	d, cfg := startDaemon(t, true)
	c := newCLI(t, d.URL())
	c.must("status", "--data", cfg.Data)
	c.must("status", "--tls-fingerprint", d.TLSFingerprint())
	// Change the first digit, whatever it is, so the pin never matches.
	fp := d.TLSFingerprint()
	first := "0"
	if fp[0] == '0' {
		first = "1"
	}
	wrong := first + fp[1:]
	if code, _, errs := c.run("status", "--tls-fingerprint", wrong); code != 1 || !strings.Contains(errs, "pinned") {
		t.Errorf("wrong fingerprint: exit %d, %q", code, errs)
	}
}
