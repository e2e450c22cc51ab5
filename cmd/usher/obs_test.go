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

// runCtx runs one usher command and returns its exit code and output.
func runCtx(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb ushertest.Buffer
	code = run(ctx, args, &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestServerCheck(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "v.pub")
	if err := daemon.WriteVendorKeys(filepath.Join(dir, "v.key"), pub); err != nil {
		t.Fatal(err)
	}
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "usher.toml")
		if err := os.WriteFile(p, []byte("data = \""+dir+"\"\nvendor_key = [\""+pub+"\"]\n"+text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	if code, out, errs := runCtx(ctx, "server", "check", "--config", write("")); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("good config: exit %d, %q %q", code, out, errs)
	}
	for _, tc := range []struct{ text, key string }{
		{"colour = \"blue\"\n", "colour"},
		{"keepalive_timeout = \"3 minutes\"\n", "keepalive_timeout"},
		{"keepalive_timeout = \"0s\"\n", "keepalive_timeout"},
		{"log_level = 7\n", "log_level"},
		{"log_format = \"xml\"\n", "log_format"},
		{"dev = 1\n", "dev"},
		{"log_file = \"/no/such/dir/usher.log\"\n", "log_file"},
		{"policy_file = \"" + writeFile(t, filepath.Join(dir, "policy.toml"), "[feature.cad]\nmaxx = 1\n") + "\"\n", "policy.toml:2:1: unknown key"},
	} {
		code, _, errs := runCtx(ctx, "server", "check", "--config", write(tc.text))
		if code == 0 || !strings.Contains(errs, tc.key) {
			t.Errorf("%q: exit %d, stderr %q; want non-zero naming %s", tc.text, code, errs, tc.key)
		}
	}
	code, _, errs := runCtx(ctx, "server", "check", "--config", write(""), "--event-retention", "soon")
	if code == 0 || !strings.Contains(errs, "event-retention") {
		t.Errorf("bad flag: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCtx(ctx, "server", "check", "--config", filepath.Join(dir, "missing.toml"))
	if code == 0 || !strings.Contains(errs, "missing.toml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errs)
	}
}

// startServer runs "usher server --dev" in process and returns its URL and
// data directory, the SIGHUP channel, its stderr and its exit code channel.
func startServer(t *testing.T, extra ...string) (url, dir string, hup chan os.Signal, stderr *ushertest.Buffer, exit chan int) {
	t.Helper()
	dir = t.TempDir()
	hup, stderr, exit = make(chan os.Signal, 1), &ushertest.Buffer{}, make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{stdout: &ushertest.Buffer{}, stderr: stderr, getenv: func(string) string { return "" }, hangup: hup}
	args := append([]string{"server", "--dev", "--data", dir, "--listen", "127.0.0.1:0"}, extra...)
	go func() { exit <- run(ctx, args, e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exit:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	const banner = "Usher is serving licenses at "
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the server banner", func() bool { return strings.Contains(stderr.String(), banner) }))
	rest := stderr.String()[strings.Index(stderr.String(), banner)+len(banner):]
	url, _, _ = strings.Cut(rest, "\n")
	return url, dir, hup, stderr, exit
}

func TestAdminCommands(t *testing.T) {
	url, dir, hup, stderr, exit := startServer(t)
	ctx := context.Background()
	api := apiclient.MustNew(url, "")
	if _, _, err := api.Checkout(ctx, wire.CheckoutRequest{Feature: daemon.DevFeature, Client: usher.Client{ID: "c1", User: "alice"}}); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", url, "--data", dir}
	cli := func(args ...string) (int, string, string) { return runCtx(ctx, append(args, conn...)...) }

	if code, out, errs := cli("events", "--type", "lease_granted"); code != 0 || !strings.Contains(out, `user="alice"`) {
		t.Errorf("events: exit %d, %q %q", code, out, errs)
	}
	if code, out, _ := cli("events", "--json"); code != 0 || !strings.Contains(out, `"type": "server_started"`) {
		t.Errorf("events --json: exit %d, %q", code, out)
	}
	if code, _, errs := cli("events", "--type", "bogus"); code != 1 || !strings.Contains(errs, "bogus") {
		t.Errorf("events --type bogus: exit %d, %q", code, errs)
	}
	if code, out, errs := cli("report", "--csv", "--from", "1h", "--step", "1m"); code != 0 || !strings.HasPrefix(out, "time,feature,peak,checkouts,denials\n") || !strings.Contains(out, ",demo,1,1,0") {
		t.Errorf("report --csv: exit %d, %q %q", code, out, errs)
	}
	if code, out, _ := cli("report", "--step", "1h"); code != 0 || !strings.Contains(out, "PEAK IN USE") {
		t.Errorf("report --step 1h: exit %d, %q", code, out)
	}
	if code, out, _ := cli("info"); code != 0 || !strings.Contains(out, "hardware id") || !strings.Contains(out, "keepalive_timeout") {
		t.Errorf("info: exit %d, %q", code, out)
	}
	if code, out, errs := cli("config", "set", "keepalive_timeout", "2m"); code != 0 || !strings.Contains(out, "keepalive_timeout: 3m0s -> 2m0s") {
		t.Errorf("config set: exit %d, %q %q", code, out, errs)
	}
	if code, out, _ := cli("config", "get", "keepalive_timeout"); code != 0 || out != "2m0s\n" {
		t.Errorf("config get KEY: exit %d, %q", code, out)
	}
	if code, out, _ := cli("config", "get"); code != 0 || !strings.Contains(out, "runtime") {
		t.Errorf("config get: exit %d, %q", code, out)
	}
	if code, _, errs := cli("config", "set", "listen", ":1"); code != 1 || !strings.Contains(errs, "listen") {
		t.Errorf("config set listen: exit %d, %q", code, errs)
	}
	if code, out, _ := cli("config", "reset", "keepalive_timeout"); code != 0 || !strings.Contains(out, "-> 3m0s") {
		t.Errorf("config reset: exit %d, %q", code, out)
	}
	if code, out, _ := cli("reload"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Errorf("reload: exit %d, %q", code, out)
	}
	hup <- os.Interrupt // stands in for SIGHUP
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("a reload on SIGHUP", func() bool { return strings.Count(stderr.String(), "configuration reloaded") >= 2 }))

	if code, out, errs := cli("kick", "--user", "alice"); code != 0 || !strings.Contains(out, "kicked 1 leases") {
		t.Errorf("kick --user: exit %d, %q %q", code, out, errs)
	}
	if code, _, _ := cli("kick"); code != 2 {
		t.Errorf("kick with nothing: exit %d, want 2", code)
	}
	if code, out, _ := cli("shutdown"); code != 0 || !strings.Contains(out, "shutting down") {
		t.Errorf("shutdown: exit %d, %q", code, out)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("server exit code %d after shutdown, want 0", code)
		}
		exit <- code // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit within 10s of usher shutdown")
	}
}

func TestEventsFollow(t *testing.T) {
	url, dir, _, _, _ := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out ushertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--type", "lease_granted", "--server", url, "--data", dir},
			&env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	}()
	// Whenever it is made, before, during or after the stored query, the
	// checkout's event is printed.
	api := apiclient.MustNew(url, "")
	c := usher.Client{ID: "follow", User: "bob"}
	if _, _, err := api.Checkout(context.Background(), wire.CheckoutRequest{Feature: daemon.DevFeature, Client: c}); err != nil {
		t.Fatal(err)
	}
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, ushertest.Until("the checkout to be followed", func() bool {
		return strings.Contains(out.String(), "lease_granted")
	}))
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("events --follow exit %d after interrupt, want 0: %q", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not stop within 10s")
	}
}
