package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMisspeltFlag checks that a misspelt flag is reported first, with the
// nearest flag and a pointer to --help, and not after the whole usage.
func TestMisspeltFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--keepalive-timout", "3s"}, "did you mean --keepalive-timeout?"},
		{[]string{"status", "--jsn"}, "did you mean --json?"},
		{[]string{"version", "--bogus"}, "unknown flag --bogus: run usher version --help for every flag"},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help for every flag") {
			t.Errorf("usher %s: exit %d, stderr %q, want exit 2 saying %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
		if lines := strings.Count(errOut, "\n"); lines > 2 {
			t.Errorf("usher %s: %d lines on stderr, want the error alone: %q", strings.Join(tc.args, " "), lines, errOut)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	out := mustCLI(t, nil, "version", "--json")
	var got struct{ Version string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Version != Version {
		t.Errorf("usher version --json = %q (%v), want {\"version\": %q}", out, err, Version)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"json", "jsn", 1}, {"keepalive-timout", "keepalive-timeout", 1}, {"abc", "xyz", 3}, {"data", "dta", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestVendorIssueKeepsExistingFile checks that vendor issue, like vendor
// keygen, refuses to overwrite a file unless --force is given.
func TestVendorIssueKeepsExistingFile(t *testing.T) {
	dir, _, lic := vendorFixture(t, "cad=1")
	before, err := os.ReadFile(lic)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "Other", "--feature", "cad=9", "--out", lic}
	code, _, errOut := runCLI(t, nil, args...)
	if code == 0 || !strings.Contains(errOut, "--force") {
		t.Errorf("vendor issue over an existing file: exit %d, stderr %q, want a refusal naming --force", code, errOut)
	}
	if after, _ := os.ReadFile(lic); string(after) != string(before) {
		t.Fatalf("the existing license was overwritten")
	}
	mustCLI(t, nil, append(args, "--force")...)
	if after, _ := os.ReadFile(lic); !strings.Contains(string(after), "Other") {
		t.Errorf("vendor issue --force did not replace the license: %q", after)
	}
}
