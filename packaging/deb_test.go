package packaging_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// debianRoot returns a fresh copy of a minimal Debian root file system
// with systemd (for systemd-analyze verify to find the units a unit
// depends on), made once by debootstrap and kept in the user's cache
// directory ($USHER_TEST_CACHE overrides it; $USHER_DEBIAN_MIRROR the
// mirror).
func debianRoot(t *testing.T) string {
	t.Helper()
	require(t, os.Geteuid() == 0, "installing a package in a root file system needs root")
	require(t, haveCommand("debootstrap"), "debootstrap is not installed")
	cache := os.Getenv("USHER_TEST_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(d, "usher-test")
	}
	base := filepath.Join(cache, "debian-bookworm-systemd")
	if _, err := os.Stat(filepath.Join(base, "usr", "bin", "dpkg")); err != nil {
		mirror := os.Getenv("USHER_DEBIAN_MIRROR")
		if mirror == "" {
			mirror = "http://deb.debian.org/debian"
		}
		tmp := base + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("debootstrap", "--variant=minbase", "--include=adduser,init-system-helpers,systemd,procps", "bookworm", tmp, mirror).CombinedOutput()
		require(t, err == nil, fmt.Sprintf("debootstrap failed: %v\n%s", err, lastLines(out, 20)))
		if err := os.Rename(tmp, base); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(t.TempDir(), "root")
	run(t, "cp", "-a", base, root)
	return root
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// inRoot runs a command chrooted into root.
func inRoot(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, "chroot", append([]string{root}, args...)...)
}

func TestDebInstallsRunsRemovesAndPurges(t *testing.T) {
	deb := artifact(t, "usher_*_"+runtime.GOARCH+".deb")
	require(t, deb != "", "no .deb for "+runtime.GOARCH+" in "+distDir()+": run make dist")
	if haveCommand("lintian") {
		if out, err := exec.Command("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb).CombinedOutput(); err != nil {
			t.Errorf("lintian: %v\n%s", err, out)
		}
	}
	root := debianRoot(t)

	// Make the root look like a running systemd whose admin forbids
	// starting services (policy-rc.d exits 101): the package must ask
	// and obey.
	must(t, os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\necho \"$@\" >> /policy-rc.d.log\nexit 101\n"), 0o755))
	run(t, "cp", deb, filepath.Join(root, "tmp", "usher.deb"))
	inRoot(t, root, "dpkg", "-i", "/tmp/usher.deb")

	wantMode(t, root, "/usr/bin/usher", 0o755, "root", "root")
	wantMode(t, root, "/usr/lib/systemd/system/usher.service", 0o644, "root", "root")
	wantMode(t, root, "/etc/usher", 0o750|os.ModeDir, "root", "usher")
	wantMode(t, root, "/etc/usher/usher.toml", 0o640, "root", "usher")
	wantMode(t, root, "/var/lib/usher", 0o700|os.ModeDir, "usher", "usher")
	if passwd := inRoot(t, root, "getent", "passwd", "usher"); !strings.Contains(passwd, "/usr/sbin/nologin") {
		t.Errorf("usher user %q: want a system user without a login shell", passwd)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/usher.service")); err != nil {
		t.Errorf("the service is not enabled: %v", err)
	}
	if log, err := os.ReadFile(filepath.Join(root, "policy-rc.d.log")); err != nil || !strings.Contains(string(log), "usher.service") {
		t.Errorf("the package did not ask policy-rc.d before starting the service (log %q, %v)", log, err)
	}
	if haveCommand("systemd-analyze") {
		if out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "/usr/lib/systemd/system/usher.service").CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	conf, err := os.ReadFile(filepath.Join(root, "etc/usher/usher.toml"))
	must(t, err)
	for _, want := range []string{"\ndata = \"/var/lib/usher\"\n", "\nvendor_key = [\"/etc/usher/vendor.pub\"]\n", "\n# keepalive_timeout = "} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("/etc/usher/usher.toml lacks %q", want)
		}
	}

	runAsTheUnitWould(t, root)

	// Remove keeps the data and the configuration; purge drops them and
	// the user.
	must(t, os.WriteFile(filepath.Join(root, "etc/usher/usher.toml"), append(conf, "\n# edited by the admin\n"...), 0o640))
	inRoot(t, root, "dpkg", "-r", "usher")
	for _, p := range []string{"/var/lib/usher/admin.token", "/etc/usher/usher.toml"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("after dpkg -r, %s is gone: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/usher")); err == nil {
		t.Error("after dpkg -r, /usr/bin/usher is still there")
	}
	inRoot(t, root, "dpkg", "-P", "usher")
	for _, p := range []string{"/var/lib/usher", "/etc/usher"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("after dpkg -P, %s is still there", p)
		}
	}
	if out, err := exec.Command("chroot", root, "getent", "passwd", "usher").CombinedOutput(); err == nil {
		t.Errorf("after dpkg -P, the usher user is still there: %s", out)
	}
}

// runAsTheUnitWould starts the installed binary as the unit's ExecStart
// does, as the usher user with the unit's umask, on a free loopback port,
// and checks that it answers /healthz and keeps its data private.
func runAsTheUnitWould(t *testing.T, root string) {
	t.Helper()
	// The admin puts the vendor's key in place, as the unit's condition
	// waits for.
	inRoot(t, root, "/usr/bin/usher", "vendor", "keygen", "--out", "/root/keys")
	run(t, "cp", filepath.Join(root, "root/keys/vendor.pub"), filepath.Join(root, "etc/usher/vendor.pub"))
	must(t, os.Chmod(filepath.Join(root, "etc/usher/vendor.pub"), 0o644))

	addr := freePort(t)
	cmd := exec.Command("chroot", "--userspec=usher:usher", root, "/usr/bin/usher", "server", "--config", "/etc/usher/usher.toml", "--listen", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	oldMask := syscall.Umask(0o077) // UMask=0077 of the unit
	err := cmd.Start()
	syscall.Umask(oldMask)
	must(t, err)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the packaged server did not answer /healthz: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	wantMode(t, root, "/var/lib/usher/admin.token", 0o600, "usher", "usher")
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

// wantMode checks a path's mode and owners inside root.
func wantMode(t *testing.T, root, path string, mode os.FileMode, user, group string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, path))
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode(), mode)
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner := strings.TrimSpace(inRoot(t, root, "stat", "-c", "%U:%G", path))
	if owner != user+":"+group {
		t.Errorf("%s is owned by %s (uid %d), want %s:%s", path, owner, st.Uid, user, group)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
