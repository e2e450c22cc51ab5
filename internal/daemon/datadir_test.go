//go:build unix

package daemon_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// modes returns the permission bits of every path under dir, by path.
func modes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out[path] = info.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPrivate fails for every directory under dir not 0700 and every file
// with a group, other or execute bit.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	for path, mode := range modes(t, dir) {
		info, _ := os.Stat(path)
		if info.IsDir() && mode != 0o700 || !info.IsDir() && mode&^0o600 != 0 {
			t.Errorf("%s: mode %#o, want 0700 for a directory, at most 0600 for a file", path, mode)
		}
	}
}

func TestDataDirectoryIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which makes SQLite files 0644
	defer syscall.Umask(old)
	cfg := testConfig(t)
	d, _ := MustStartLogged(t, cfg)
	c := apiclient.MustNew(d.URL(), "")
	defer c.Close()
	if _, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "none", Client: usher.Client{ID: "a"}}); usher.ErrorCode(err) != usher.EFeatureNotFound {
		t.Fatalf("checkout: %v", err) // writes the event log
	}
	checkPrivate(t, cfg.Data)
	d.Close()

	// A data directory opened up by hand, with a stray subdirectory, is
	// tightened at the next start, with a warning for each path.
	var loose []string
	for path := range modes(t, cfg.Data) {
		if err := os.Chmod(path, 0o755); err != nil {
			t.Fatal(err)
		}
		loose = append(loose, path)
	}
	sub := filepath.Join(cfg.Data, "backup")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "old.db"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	loose = append(loose, sub, filepath.Join(sub, "old.db"))
	_, log := MustStartLogged(t, cfg)
	checkPrivate(t, cfg.Data)
	for _, path := range loose {
		if !strings.Contains(log.String(), "path="+path+" ") {
			t.Errorf("no warning about %s in the log:\n%s", path, log)
		}
	}
}
