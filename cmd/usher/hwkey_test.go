package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/hwkey/softhsmtest"
)

// TestHardwareKeyServerProcess follows a customer with a hardware key: the
// fingerprint names its serial, the vendor issues a license requiring it,
// the server serves it, and with crash_if_no_hardware_key the server
// process exits non-zero once the key is unplugged.
func TestHardwareKeyServerProcess(t *testing.T) {
	tok := softhsmtest.New(t, "usher", "1234") // SOFTHSM2_CONF reaches the server process too
	dir, pub, _ := vendorFixture(t, "cad=1")
	data := filepath.Join(dir, "data")
	hw := []string{"--hardware-key-module", tok.Module, "--hardware-key-token", tok.Label, "--hardware-key-pin-file", tok.PINFile}
	var fp struct {
		ServerKey   string  `json:"server_key"`
		HardwareKey *string `json:"hardware_key_serial"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, append([]string{"server", "fingerprint", "--data", data, "--json"}, hw...)...)), &fp); err != nil {
		t.Fatal(err)
	}
	if fp.HardwareKey == nil || *fp.HardwareKey != tok.Serial {
		t.Fatalf("got fingerprint %+v, want hardware_key_serial %s", fp, tok.Serial)
	}
	lic := filepath.Join(dir, "dongle.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp",
		"--feature", "cad=1", "--require-hardware-key", tok.Serial, "--out", lic)
	if text := readFile(t, lic); !strings.Contains(text, "require-hardware-key: "+tok.Serial+"\n") {
		t.Fatalf("got license\n%s\nwant a require-hardware-key line", text)
	}

	p := startServerProc(t, append([]string{"--data", data, "--vendor-key", pub, "--hardware-key-poll", "200ms", "--crash-if-no-hardware-key"}, hw...)...)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	mustCLI(t, env, "license", "add", lic, "--data", data)
	if info := serverInfo(t, p.url); info.ServerKey != fp.ServerKey || info.HardwareID != tok.Serial {
		t.Fatalf("GET /v1/server: got %+v, want key %s and hardware id %s", info, fp.ServerKey, tok.Serial)
	}
	if out := mustCLI(t, env, "info", "--data", data); !strings.Contains(out, tok.Serial+" (present)") {
		t.Fatalf("usher info: got\n%s\nwant the hardware key present", out)
	}

	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	tok.Unplug()
	select {
	case err := <-exited:
		if err == nil || p.cmd.ProcessState.ExitCode() == 0 {
			t.Fatalf("server exited with %v, want a non-zero status", err)
		}
	case <-time.After(200*time.Millisecond + 3*time.Second):
		t.Fatal("the server still runs 3s after a poll with its hardware key unplugged, want it to exit (crash_if_no_hardware_key)")
	}
}

// TestLicenseRequiringHardwareKeyRefused: a server without a hardware key
// refuses a license that requires one, and says what to set.
func TestLicenseRequiringHardwareKeyRefused(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	data := filepath.Join(dir, "data")
	lic := filepath.Join(dir, "dongle.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "ACME Corp",
		"--feature", "cad=1", "--require-hardware-key", "4d2a9c51e0b3f7a8", "--out", lic)
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	if code, _, errOut := runCLI(t, env, "license", "add", lic, "--data", data); code == 0 || !strings.Contains(errOut, "hardware_key_module") {
		t.Fatalf("add a license requiring a hardware key: got exit %d, %q, want it refused, naming hardware_key_module", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "A",
		"--feature", "cad=1", "--require-hardware-key", "a b"); code == 0 || !strings.Contains(errOut, "hardware key serial") {
		t.Fatalf("--require-hardware-key 'a b': got exit %d, %q, want a refusal", code, errOut)
	}
}
