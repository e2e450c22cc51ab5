package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestFingerprintBindsALicense follows the customer's path: the server
// prints its fingerprint, the vendor binds a license to it, the server
// takes it; a license bound to another server is refused.
func TestFingerprintBindsALicense(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	data := filepath.Join(dir, "data")
	var fp struct {
		ServerKey       string            `json:"server_key"`
		HostFingerprint string            `json:"host_fingerprint"`
		Traits          map[string]string `json:"traits"`
		HardwareKey     *string           `json:"hardware_key_serial"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "server", "fingerprint", "--data", data, "--json")), &fp); err != nil {
		t.Fatal(err)
	}
	if fp.ServerKey == "" || fp.HostFingerprint == "" || len(fp.Traits) == 0 || fp.HardwareKey != nil {
		t.Fatalf("got fingerprint %+v, want a key, a host fingerprint and its traits", fp)
	}
	issue := func(name string, bind ...string) string {
		out := filepath.Join(dir, name)
		mustCLI(t, nil, append([]string{"vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp",
			"--feature", "cad=1", "--out", out}, bind...)...)
		return out
	}
	here := issue("here.lic", "--bind-server", fp.ServerKey, "--bind-host", fp.HostFingerprint)
	elsewhere := issue("elsewhere.lic", "--bind-server", "7WoE/QzIW0DyJ6YbOeGsc6eo5+8RuOMZPnm+kF+epTE=")
	if code, _, errOut := runCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "A",
		"--feature", "cad=1", "--bind-host", fp.HostFingerprint, "--bind-host-min", "99"); code == 0 || !strings.Contains(errOut, "matching traits") {
		t.Fatalf("--bind-host-min 99: got exit %d, %q, want a refusal", code, errOut)
	}
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	if code, _, errOut := runCLI(t, env, "license", "add", elsewhere, "--data", data); code == 0 || !strings.Contains(errOut, "bound to server") {
		t.Fatalf("add a license bound elsewhere: got exit %d, %q, want it refused", code, errOut)
	}
	mustCLI(t, env, "license", "add", here, "--data", data)
	if info := serverInfo(t, p.url); info.ServerKey != fp.ServerKey {
		t.Fatalf("GET /v1/server: got key %s, want %s", info.ServerKey, fp.ServerKey)
	}
}

func serverInfo(t *testing.T, url string) wire.ServerIdentity {
	t.Helper()
	c := apiclient.MustNew(url, "")
	defer c.Close()
	info, err := c.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestCopiedDataDirWaitsForTheFirstServer runs two server processes from
// copies of one data directory on this host: only one serves the bound
// license at a time, and the second takes over when the first dies.
func TestCopiedDataDirWaitsForTheFirstServer(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	data, copied := filepath.Join(dir, "data"), filepath.Join(dir, "copy")
	key := strings.TrimSpace(strings.Split(strings.Split(mustCLI(t, nil, "server", "fingerprint", "--data", data), "\n")[0], ":")[1])
	lic := filepath.Join(dir, "bound.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp",
		"--feature", "cad=1", "--bind-server", key, "--out", lic)
	first := startServerProc(t, "--data", data, "--vendor-key", pub)
	mustCLI(t, func(k string) string { return map[string]string{"USHER_SERVER": first.url}[k] }, "license", "add", lic, "--data", data)

	copyTree(t, data, copied) // while the first server runs
	second := startServerProc(t, "--data", copied, "--vendor-key", pub)
	if a, b := serverInfo(t, first.url), serverInfo(t, second.url); a != b {
		t.Fatalf("got identities %+v and %+v, want the copy to carry the same", a, b)
	}
	c2 := apiclient.MustNew(second.url, strings.TrimSpace(readFile(t, filepath.Join(copied, "admin.token"))))
	defer c2.Close()
	ctx := context.Background()
	checkout := func(c *apiclient.Client, id string) error {
		_, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id}})
		return err
	}
	err := checkout(c2, "on-second")
	if usher.ErrorCode(err) != usher.ELicenseInUseElsewhere || wire.StatusOf(usher.ErrorCode(err)) != 409 {
		t.Fatalf("second server: got %v, want license_in_use_elsewhere (409)", err)
	}
	c1 := apiclient.MustNew(first.url, strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token"))))
	defer c1.Close()
	if err := checkout(c1, "on-first"); err != nil {
		t.Fatalf("first server: %v", err)
	}
	first.kill9(t)
	ushertest.WaitFor(t, 15*time.Second, 100*time.Millisecond, func() error { return checkout(c2, "on-second") })
}

// copyTree copies the regular files of a directory.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := os.WriteFile(filepath.Join(to, e.Name()), []byte(readFile(t, filepath.Join(from, e.Name()))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}
