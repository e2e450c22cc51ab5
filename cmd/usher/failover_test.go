package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

// deadAddr returns an address where nothing listens: a listener's, closed.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestAdminCommandsFailOver runs admin commands with USHER_SERVER naming
// a dead server before a live one: each answers from the live one, with
// the output it has with the live one alone.
func TestAdminCommandsFailOver(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=5")
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.Listen, cfg.VendorKey = filepath.Join(dir, "data"), []string{"127.0.0.1:0"}, []string{pub}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	data := "--data=" + cfg.Data
	alive := func(k string) string { return map[string]string{"USHER_SERVER": d.URL()}[k] }
	both := func(k string) string { return map[string]string{"USHER_SERVER": deadAddr(t) + "," + d.URL()}[k] }

	if out := mustCLI(t, both, "license", "add", lic, data); !strings.Contains(out, "added license lic_") {
		t.Fatalf("license add through a dead server first printed %q", out)
	}
	out := mustCLI(t, both, "status")
	if !regexp.MustCompile(`cad\s+5\s+0\s+5`).MatchString(out) {
		t.Fatalf("status with USHER_SERVER=<dead>,<alive>:\n%s", out)
	}
	for _, args := range [][]string{
		{"status"}, {"leases", data}, {"license", "list", data}, {"user", "list", data}, {"token", "list", data},
		{"config", "get", "keepalive_timeout", data}, {"report", "--step", "1h", "--json", data},
	} {
		want := mustCLI(t, alive, args...)
		if got := mustCLI(t, both, args...); got != want {
			t.Errorf("usher %s through a dead server first printed\n%s\nwant\n%s", strings.Join(args, " "), got, want)
		}
	}
	if out := mustCLI(t, both, "info", data); !strings.Contains(out, cfg.Data) {
		t.Errorf("info through a dead server first:\n%s", out)
	}
	if out := mustCLI(t, both, "events", "--type", "license_added", data); !strings.Contains(out, "license_added") {
		t.Errorf("events through a dead server first:\n%s", out)
	}
	if code, _, errOut := runCLI(t, both, "kick", "ls_nosuch", data); code != 1 || !strings.Contains(errOut, "lease_not_found") {
		t.Errorf("kick of a missing lease: exit %d, %q; want 1 and lease_not_found", code, errOut)
	}
}

// TestAdminCommandsDoNotRetryRefusals checks that an error answer other
// than unavailable is final: the next server of the list is not asked.
func TestAdminCommandsDoNotRetryRefusals(t *testing.T) {
	var asked atomic.Int32
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"code":"forbidden","message":"this token may not do that","status":403}`)
	}))
	t.Cleanup(refusing.Close)
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		fmt.Fprint(w, `{"features":[]}`)
	}))
	t.Cleanup(next.Close)
	env := func(k string) string {
		return map[string]string{"USHER_SERVER": refusing.URL + "," + next.URL, "USHER_TOKEN": "t"}[k]
	}
	code, _, errOut := runCLI(t, env, "status")
	if code != 1 || !strings.Contains(errOut, "(forbidden)") {
		t.Errorf("status: exit %d, %q; want 1 and the forbidden error", code, errOut)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the next server was asked %d times after a refusal, want 0", n)
	}
}

// TestAdminCommandsReportEveryServerDown checks the error when no server
// of the list answers.
func TestAdminCommandsReportEveryServerDown(t *testing.T) {
	a, b := deadAddr(t), deadAddr(t)
	env := func(k string) string { return map[string]string{"USHER_SERVER": a + "," + b, "USHER_TOKEN": "t"}[k] }
	code, _, errOut := runCLI(t, env, "status")
	if code != 1 || !strings.Contains(errOut, "(unavailable)") || !strings.Contains(errOut, a) || !strings.Contains(errOut, b) {
		t.Errorf("status: exit %d, %q; want 1 and an unavailable error naming %s and %s", code, errOut, a, b)
	}
}
