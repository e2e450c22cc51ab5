package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVendorIssueGrantAttributes checks that --feature passes key=value
// pairs through as grant attributes, in canonical form, and names an
// unknown one.
func TestVendorIssueGrantAttributes(t *testing.T) {
	dir, _, lic := vendorFixture(t, "cad=5,borrow=72h,scope=host,expires=2030-01-01", "viewer=unlimited")
	text, err := os.ReadFile(lic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"format: 3\n", "feature: cad seats=5 expires=2030-01-01T23:59:59Z scope=host borrow=3d\n", "feature: viewer seats=unlimited\n"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("license lacks %q:\n%s", want, text)
		}
	}
	code, _, errOut := runCLI(t, nil, "vendor", "issue", "--key", filepath.Join(dir, "keys", "vendor.key"), "--licensee", "A", "--feature", "cad=5,teleport=yes")
	if code == 0 || !strings.Contains(errOut, `unknown attribute "teleport"`) {
		t.Errorf("unknown attribute: exit %d, stderr %q, want a refusal naming it", code, errOut)
	}
}
