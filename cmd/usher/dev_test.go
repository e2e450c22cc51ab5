package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

func TestServerRefusesDevNextToARealKeyOrOffLoopback(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "v.pub")
	if err := daemon.WriteVendorKeys(filepath.Join(dir, "v.key"), pub); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vendor-key", pub}, "dev: cannot be used with vendor_key"},
		{[]string{"--listen", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"--listen", ":7420"}, "not a loopback address"},
	} {
		args := append([]string{"server", "check", "--dev", "--data", data}, tc.args...)
		if code, _, errs := runCtx(context.Background(), args...); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("usher %s: exit %d, stderr %q; want non-zero saying %q", strings.Join(args, " "), code, errs, tc.want)
		}
	}
	if code, out, errs := runCtx(context.Background(), "server", "check", "--dev", "--data", data); code != 0 {
		t.Errorf("usher server check --dev: exit %d, %q %q", code, out, errs)
	}
}
