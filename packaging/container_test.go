package packaging_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podman runs podman with the two settings this kind of machine needs:
// no ulimits raised by the runtime, and runc (see the README's Install
// section).
type podman struct {
	t    *testing.T
	conf string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	require(t, haveCommand("podman") && haveCommand("runc"), "podman and runc are not installed")
	conf := filepath.Join(t.TempDir(), "containers.conf")
	must(t, os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644))
	return &podman{t: t, conf: conf}
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", append([]string{"--runtime", runcPath()}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

func runcPath() string {
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	return "/usr/sbin/runc"
}

func (p *podman) run(args ...string) string {
	p.t.Helper()
	out, err := p.cmd(args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cleanup removes what a test made, whatever state it is in.
func (p *podman) cleanup(kind string, names ...string) {
	p.t.Cleanup(func() {
		for _, n := range names {
			args := map[string][]string{
				"container": {"rm", "-f", "-t", "2", n},
				"volume":    {"volume", "rm", "-f", n},
				"network":   {"network", "rm", "-f", n},
			}[kind]
			p.cmd(args...).Run()
		}
	})
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// waitHealthy polls a server's /healthz until it answers 200.
func waitHealthy(t *testing.T, base string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy: %v\n%s", base, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkout asks for a seat as a probe client and returns the status and
// the error code, releasing a seat it got.
func checkout(t *testing.T, base, feature string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"feature":%q,"client":{"id":"probe-%s"}}`, feature, randomSuffix(t))
	resp, err := http.Post(base+"/v1/leases", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		ID    string `json:"id"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
		Code string `json:"code"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if out.ID != "" {
		req, _ := http.NewRequest(http.MethodDelete, base+"/v1/leases/"+out.ID, nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}
	if out.Error.Code != "" {
		return resp.StatusCode, out.Error.Code
	}
	return resp.StatusCode, out.Code
}

func TestContainerServesThroughRestartAndRefusesACopiedVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	usherBin := artifact(t, "usher_*_linux_amd64_static")
	require(t, usherBin != "", "no static linux/amd64 binary in "+distDir()+": run make dist")
	p := newPodman(t)
	image, client := envOr("USHER_IMAGE", "localhost/usher:latest"), envOr("USHER_CLIENT_IMAGE", "localhost/usher-seatholder:latest")
	require(t, p.cmd("image", "exists", image).Run() == nil && p.cmd("image", "exists", client).Run() == nil,
		"images "+image+" and "+client+" are not built: run make image")

	sfx := randomSuffix(t)
	net, data, lock := "usher-test-net-"+sfx, "usher-test-data-"+sfx, "usher-test-lock-"+sfx
	srv, srv2, app := "usher-test-srv-"+sfx, "usher-test-copy-"+sfx, "usher-test-app-"+sfx
	data2 := data + "-copy"
	p.cleanup("volume", data, data2, lock)
	p.cleanup("network", net)
	p.cleanup("container", srv, srv2, app) // runs first: containers go before their volumes
	p.run("network", "create", net)
	for _, v := range []string{data, data2, lock} {
		p.run("volume", "create", v)
	}

	dir := t.TempDir()
	run(t, usherBin, "vendor", "keygen", "--out", filepath.Join(dir, "keys"))
	startServer := func(name, volume string) string {
		port := freePort(t)
		p.run("run", "-d", "--name", name, "--network", net,
			"-v", volume+":/var/lib/usher", "-v", lock+":/run/usher",
			"-v", filepath.Join(dir, "keys", "vendor.pub")+":/etc/usher/vendor.pub:ro",
			"-e", "USHER_VENDOR_KEY=/etc/usher/vendor.pub", "-p", port+":7420", image)
		base := "http://" + port
		waitHealthy(t, base, func() string { out, _ := p.cmd("logs", name).CombinedOutput(); return string(out) })
		return base
	}
	base := startServer(srv, data)
	if out, err := p.cmd("healthcheck", "run", srv).CombinedOutput(); err != nil {
		t.Errorf("the image's HEALTHCHECK (usher health) fails: %v\n%s", err, out)
	}

	// A license bound to this server, added with the admin token the
	// server wrote into its volume.
	var fp struct {
		ServerKey string `json:"server_key"`
	}
	must(t, json.Unmarshal([]byte(p.run("exec", srv, "/usr/bin/usher", "server", "fingerprint", "--data", "/var/lib/usher", "--json")), &fp))
	lic := filepath.Join(dir, "cad.lic")
	run(t, usherBin, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "Container test",
		"--feature", "cad=2", "--bind-server", fp.ServerKey, "--out", lic)
	p.run("cp", lic, srv+":/tmp/cad.lic")
	p.run("exec", srv, "/usr/bin/usher", "license", "add", "--data", "/var/lib/usher", "/tmp/cad.lic")
	p.run("cp", srv+":/var/lib/usher/admin.token", filepath.Join(dir, "admin.token"))
	token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	must(t, err)
	leases := func() []string {
		out, err := exec.Command(usherBin, "leases", "--server", base, "--token", strings.TrimSpace(string(token)), "--json").Output()
		if err != nil {
			return nil
		}
		var ls struct {
			Leases []struct {
				ID string `json:"id"`
			} `json:"leases"`
		}
		json.Unmarshal(out, &ls)
		var ids []string
		for _, l := range ls.Leases {
			ids = append(ids, l.ID)
		}
		return ids
	}

	// The client container finds the server by USHER_SERVER.
	p.run("run", "-d", "--name", app, "--network", net, "-e", "USHER_SERVER=http://"+srv+":7420", client, "-feature", "cad")
	var held []string
	pollUntil(t, "the client's lease to appear", func() bool { held = leases(); return len(held) == 1 }, func() string { return p.run("logs", app) })

	// The lease survives a restart of the server container.
	p.run("restart", "-t", "10", srv)
	waitHealthy(t, base, func() string { return p.run("logs", srv) })
	if got := leases(); len(got) != 1 || got[0] != held[0] {
		t.Fatalf("after a restart the leases are %v, want %v", got, held)
	}

	// A copy of the volume, started next to the first server with the
	// same lock volume, does not serve the bound license while the first
	// runs, and does once it stops.
	p.run("stop", "-t", "10", srv)
	var vol bytes.Buffer
	exp := p.cmd("volume", "export", data)
	exp.Stdout = &vol
	must(t, exp.Run())
	imp := p.cmd("volume", "import", data2, "-")
	imp.Stdin = &vol
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("podman volume import: %v\n%s", err, out)
	}
	p.run("start", srv)
	waitHealthy(t, base, func() string { return p.run("logs", srv) })
	base2 := startServer(srv2, data2)
	if status, code := checkout(t, base2, "cad"); status != http.StatusConflict || code != "license_in_use_elsewhere" {
		t.Errorf("checkout on the copied volume: %d %s, want 409 license_in_use_elsewhere", status, code)
	}
	if status, code := checkout(t, base, "cad"); status != http.StatusOK && status != http.StatusCreated {
		t.Errorf("checkout on the first server: %d %s, want a seat", status, code)
	}
	p.run("stop", "-t", "10", srv)
	pollUntil(t, "the copy to serve once the first server stopped", func() bool {
		status, _ := checkout(t, base2, "cad")
		return status == http.StatusOK || status == http.StatusCreated
	}, func() string { return p.run("logs", srv2) })
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// pollUntil polls cond for up to 30 seconds.
func pollUntil(t *testing.T, what string, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
