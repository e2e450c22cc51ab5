// Package softhsmtest makes SoftHSM2 tokens for tests: each in its own
// configuration and token directory, unplugged and plugged back in by
// moving the token's directory out of the token directory and back.
package softhsmtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/hwkey"
)

// Module paths of SoftHSM2 on Debian and its derivatives.
var modules = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"}

// Token is one SoftHSM2 token with its own configuration.
type Token struct {
	tb      testing.TB
	Module  string // the SoftHSM2 module's path
	Conf    string // the SOFTHSM2_CONF file
	Label   string
	PIN     string
	PINFile string // holds PIN
	Serial  string
	dir     string // the token directory
	away    string // where an unplugged token's directory waits
	name    string // the token's directory inside dir
}

// New initializes a token labelled label with PIN pin, and sets
// SOFTHSM2_CONF for the test (so it cannot run in parallel). It skips the
// test when SoftHSM2 or cgo is absent, or fails it if
// USHER_REQUIRE_SOFTHSM=1.
func New(tb testing.TB, label, pin string) *Token {
	tb.Helper()
	module := require(tb)
	root := tb.TempDir()
	t := &Token{tb: tb, Module: module, Conf: filepath.Join(root, "softhsm2.conf"), Label: label, PIN: pin,
		PINFile: filepath.Join(root, "pin"), dir: filepath.Join(root, "tokens"), away: filepath.Join(root, "away")}
	for _, d := range []string{t.dir, t.away} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	conf := "directories.tokendir = " + t.dir + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n"
	if err := os.WriteFile(t.Conf, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(t.PINFile, []byte(pin+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", t.Conf)
	t.util("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-"+pin)
	entries, err := os.ReadDir(t.dir)
	if err != nil || len(entries) != 1 {
		tb.Fatalf("softhsm2-util made %d token directories (%v), want 1", len(entries), err)
	}
	t.name = entries[0].Name()
	t.Serial = t.serial()
	return t
}

// Config returns the hwkey configuration of the token.
func (t *Token) Config() hwkey.Config {
	return hwkey.Config{Module: t.Module, Token: t.Label, PIN: t.PIN}
}

// Unplug moves the token's directory out of the token directory.
func (t *Token) Unplug() {
	t.tb.Helper()
	if err := os.Rename(filepath.Join(t.dir, t.name), filepath.Join(t.away, t.name)); err != nil {
		t.tb.Fatal(err)
	}
}

// Replug moves the token's directory back.
func (t *Token) Replug() {
	t.tb.Helper()
	if err := os.Rename(filepath.Join(t.away, t.name), filepath.Join(t.dir, t.name)); err != nil {
		t.tb.Fatal(err)
	}
}

func (t *Token) util(args ...string) string {
	t.tb.Helper()
	cmd := exec.Command("softhsm2-util", args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+t.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.tb.Fatalf("softhsm2-util %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// serial reads the token's serial from softhsm2-util --show-slots.
func (t *Token) serial() string {
	t.tb.Helper()
	sc := bufio.NewScanner(bytes.NewBufferString(t.util("--show-slots")))
	serial := ""
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k, v = strings.TrimSpace(k), strings.TrimSpace(v); k {
		case "Serial number":
			serial = v
		case "Label":
			if v == t.Label {
				return serial
			}
		}
	}
	t.tb.Fatalf("softhsm2-util --show-slots does not show token %s", t.Label)
	return ""
}

// require returns the module's path, or skips or fails the test.
func require(tb testing.TB) string {
	tb.Helper()
	msg := "hardware-key tests need the cgo build"
	if hwkey.Supported {
		msg = "no SoftHSM2: install the softhsm2 package to run the hardware-key tests"
		if _, err := exec.LookPath("softhsm2-util"); err == nil {
			for _, m := range modules {
				if _, err := os.Stat(m); err == nil {
					return m
				}
			}
		}
	}
	if os.Getenv("USHER_REQUIRE_SOFTHSM") == "1" {
		tb.Fatal(msg + " (USHER_REQUIRE_SOFTHSM=1 makes this a failure)")
	}
	tb.Skip(msg)
	return ""
}
