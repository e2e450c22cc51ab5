package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRPMHoldsTheFilesScriptsAndDependencies(t *testing.T) {
	rpm := artifact(t, "usher-*.x86_64.rpm")
	require(t, rpm != "", "no x86_64 .rpm in "+distDir()+": run make dist")
	require(t, haveCommand("rpm"), "rpm is not installed")

	dump := run(t, "rpm", "-qp", "--dump", rpm)
	// --dump: path size mtime digest mode owner group isconfig isdoc ...
	want := map[string]struct{ mode, config string }{
		"/usr/bin/usher":                        {"0100755", "0"},
		"/usr/lib/systemd/system/usher.service": {"0100644", "0"},
		"/etc/usher/usher.toml":                 {"0100640", "1"},
		"/etc/usher":                            {"040750", "0"},
	}
	for _, line := range strings.Split(dump, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		w, ok := want[f[0]]
		if !ok {
			continue
		}
		delete(want, f[0])
		if f[4] != w.mode || f[7] != w.config {
			t.Errorf("%s: mode %s config %s, want mode %s config %s", f[0], f[4], f[7], w.mode, w.config)
		}
	}
	for path := range want {
		t.Errorf("the rpm lacks %s", path)
	}
	scripts := run(t, "rpm", "-qp", "--scripts", rpm)
	for _, want := range []string{"preinstall scriptlet", "useradd --system", "postinstall scriptlet", "systemctl enable usher.service", "preuninstall scriptlet", "disable --now usher.service"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scripts lack %q", want)
		}
	}
	if out, _ := exec.Command("rpm", "-qp", "--requires", rpm).CombinedOutput(); !strings.Contains(string(out), "shadow-utils") {
		t.Errorf("the rpm does not require shadow-utils (useradd): %s", out)
	}

	// Installed into a root of its own (a Debian root: its shell and
	// adduser serve the scripts), then removed.
	root := debianRoot(t)
	run(t, "rpm", "--root="+root, "--initdb")
	run(t, "rpm", "--root="+root, "-i", "--nodeps", rpm)
	wantMode(t, root, "/usr/bin/usher", 0o755, "root", "root")
	wantMode(t, root, "/etc/usher/usher.toml", 0o640, "root", "usher")
	wantMode(t, root, "/var/lib/usher", 0o700|os.ModeDir, "usher", "usher")
	run(t, "rpm", "--root="+root, "-e", "--nodeps", "usher")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/usher")); err == nil {
		t.Error("after rpm -e, /usr/bin/usher is still there")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/usher")); err != nil {
		t.Errorf("rpm -e removed the data directory: %v", err)
	}
}
