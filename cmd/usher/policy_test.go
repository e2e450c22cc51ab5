package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "policy.toml"), "[feature.demo]\nmax = { \"user:*\" = 1 }\n")
	url, data, hup, stderr, _ := startServer(t, "--policy-file", file)
	ctx := context.Background()
	api := apiclient.MustNew(url, "")
	take := func(id, user string) error {
		_, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: id, User: user, Host: "ws1"}})
		return err
	}
	if err := take("a1", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := take("a2", "alice"); usher.ErrorCode(err) != usher.EPolicyDenied {
		t.Fatalf("alice's second seat: got %v, want policy_denied", err)
	}
	conn := []string{"--server", url, "--data", data}
	cli := func(args ...string) (int, string, string) { return runCtx(ctx, append(args, conn...)...) }

	if code, out, errs := cli("policy", "show"); code != 0 || !strings.Contains(out, "# source: file, 1 rule\n[feature.demo]\n") || !strings.Contains(out, `max = { "user:*" = 1 }`) {
		t.Errorf("policy show: exit %d, %q %q", code, out, errs)
	}
	code, out, errs := cli("policy", "check", writeFile(t, filepath.Join(dir, "strict.toml"), "[feature.demo]\nexclude = [\"host:ws*\"]\n"), "--since", "1h")
	if code != 0 || !strings.Contains(out, "would be denied") || !strings.Contains(out, `feature.demo.exclude["host:ws*"]: user alice on host ws1`) {
		t.Errorf("policy check: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := cli("policy", "check", writeFile(t, filepath.Join(dir, "bad.toml"), "[feature.demo]\n\nmaxx = 1\n")); code != 1 || !strings.Contains(errs, "3:1: unknown key") {
		t.Errorf("policy check of a bad file: exit %d, %q", code, errs)
	}

	// SIGHUP reads the file again, and logs the change.
	writeFile(t, file, "[feature.demo]\nmax = { \"user:*\" = 2 }\n")
	hup <- os.Interrupt // stands in for SIGHUP
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the policy reloaded on SIGHUP", func() bool {
		return strings.Contains(stderr.String(), "policy rule changed")
	}))
	if err := take("a2", "alice"); err != nil {
		t.Fatalf("alice's second seat after the reload: %v", err)
	}

	code, out, errs = cli("policy", "set", writeFile(t, filepath.Join(dir, "api.toml"), "[feature.demo]\nexclude = [\"user:bob\"]\n"))
	if code != 0 || !strings.Contains(out, "policy in force: 1 rule") || !strings.Contains(out, `+ feature.demo.exclude["user:bob"]`) || !strings.Contains(out, `- feature.demo.max["user:*"]=2`) {
		t.Errorf("policy set: exit %d, %q %q", code, out, errs)
	}
	if err := take("b1", "bob"); usher.ErrorCode(err) != usher.EPolicyDenied {
		t.Fatalf("bob after policy set: got %v, want policy_denied", err)
	}
	if code, _, errs := cli("policy", "frob"); code != 2 || !strings.Contains(errs, "show, set or check") {
		t.Errorf("policy frob: exit %d, %q", code, errs)
	}
}
