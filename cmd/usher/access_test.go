package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// TestLicenseeSecretCommandsAndCrash issues a license in client mode, binds
// it with a checkout, kills the server at once, and checks that the
// binding survived; then the vendor's unbind file lifts it.
func TestLicenseeSecretCommandsAndCrash(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "viewer=1")
	key, data := filepath.Join(dir, "keys", "vendor.key"), filepath.Join(dir, "data")
	lic := filepath.Join(dir, "secret.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", key, "--licensee", "ACME Corp", "--feature", "cad=2", "--licensee-secret", "client", "--out", lic)
	if code, _, errOut := runCLI(t, nil, "vendor", "issue", "--key", key, "--licensee", "A", "--feature", "cad=1",
		"--licensee-secret", "predefined", "--secret-hash", "sha256:12"); code == 0 || !strings.Contains(errOut, "secret hash") {
		t.Fatalf("a malformed --secret-hash: got exit %d, %q, want a refusal", code, errOut)
	}
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	var added wire.LicenseResponse
	if err := json.Unmarshal([]byte(mustCLI(t, env, "license", "add", lic, "--data", data, "--json")), &added); err != nil {
		t.Fatal(err)
	}
	id := added.ID
	c := apiclient.MustNew(p.url, "")
	checkout := func(c *apiclient.Client, client, secret string) error {
		_, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client, Secret: secret}})
		return err
	}
	if err := checkout(c, "c1", "machine-a"); err != nil {
		t.Fatalf("first checkout: %v", err)
	}
	c.Close()
	p.kill9(t) // right after the answer

	p = startServerProc(t, "--data", data, "--vendor-key", pub)
	env = func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	c = apiclient.MustNew(p.url, "")
	defer c.Close()
	if err := checkout(c, "c2", "machine-b"); usher.ErrorCode(err) != usher.ELicenseeSecretMismatch {
		t.Fatalf("after kill -9, another secret: got %v, want %s", err, usher.ELicenseeSecretMismatch)
	}
	if out := mustCLI(t, env, "license", "list", "--data", data); !strings.Contains(out, "SECRET") || !strings.Contains(out, "client, bound") {
		t.Fatalf("license list: got %q, want the license shown as bound", out)
	}
	unbind := filepath.Join(dir, "unbind.txt")
	if out := mustCLI(t, nil, "vendor", "unbind", "--license", id, "--key", key, "--out", unbind); !strings.Contains(out, "unbinds license "+id) {
		t.Fatalf("vendor unbind: got %q", out)
	}
	if out := mustCLI(t, env, "license", "unbind", unbind, "--data", data); !strings.Contains(out, "is unbound") {
		t.Fatalf("license unbind: got %q", out)
	}
	if code, _, errOut := runCLI(t, env, "license", "unbind", unbind, "--data", data); code != 1 || !strings.Contains(errOut, "not bound") {
		t.Fatalf("license unbind again: got exit %d, %q, want not bound", code, errOut)
	}
	if err := checkout(c, "c2", "machine-b"); err != nil {
		t.Fatalf("checkout after unbind: %v", err)
	}
}

func TestAssignCommands(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "cad=2,users=named")
	data := filepath.Join(dir, "data")
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	mustCLI(t, env, "license", "add", lic, "--data", data)
	if out := mustCLI(t, env, "license", "list", "--data", data); !strings.Contains(out, "2 (users=named)") {
		t.Fatalf("license list: got %q, want the grant shown as users=named", out)
	}
	if out := mustCLI(t, env, "assign", "cad", "alice", "bob", "--data", data); !strings.Contains(out, "registered for cad: alice, bob") {
		t.Fatalf("assign: got %q", out)
	}
	if code, _, errOut := runCLI(t, env, "assign", "cad", "carol", "--data", data); code != 1 || !strings.Contains(errOut, "unassign some first") {
		t.Fatalf("assign beyond the seats: got exit %d, %q", code, errOut)
	}
	c := apiclient.MustNew(p.url, "")
	defer c.Close()
	take := func(user string) error {
		_, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c-" + user, User: user}})
		return err
	}
	if err := take("carol"); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("checkout by carol: got %v, want %s", err, usher.EUserNotRegistered)
	}
	if err := take("alice"); err != nil {
		t.Fatalf("checkout by alice: %v", err)
	}
	out := mustCLI(t, env, "assign", "--list", "cad", "--data", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "LAST CHECKOUT") || !strings.HasPrefix(lines[1], "alice") || strings.Contains(lines[1], "never") || !strings.Contains(lines[2], "never") {
		t.Fatalf("assign --list: got %q, want alice with a last checkout and bob never", out)
	}
	if out := mustCLI(t, env, "unassign", "cad", "bob", "dave", "--data", data); !strings.Contains(out, "unregistered from cad: bob") {
		t.Fatalf("unassign: got %q", out)
	}
	mustCLI(t, env, "assign", "cad", "carol", "--data", data)
	c.Close()
	p.kill9(t)

	p = startServerProc(t, "--data", data, "--vendor-key", pub)
	env = func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	out = mustCLI(t, env, "assign", "--list", "cad", "--data", data)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "alice") || strings.Contains(lines[1], "never") || !strings.HasPrefix(lines[2], "carol") {
		t.Fatalf("assign --list after kill -9: got %q, want alice (with her last checkout) and carol", out)
	}
	c = apiclient.MustNew(p.url, "")
	defer c.Close()
	if err := take("bob"); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("checkout by bob after the restart: got %v, want %s", err, usher.EUserNotRegistered)
	}
}
