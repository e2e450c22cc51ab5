package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// secureDataDir creates the data directory with mode 0700, or tightens the
// one there: the directory and those in it lose every group and other
// bit, and so do the files, which also lose the owner's execute bit (0600
// at most). It warns about each path that had a group or other bit, since
// the data directory holds password and token hashes and the admin token.
// A path the server may not change (owned by another user) is warned about
// and left. Symbolic links are not followed.
func secureDataDir(dir string, logger *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	root, err := filepath.EvalSymlinks(dir) // the directory itself may be a link
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if !e.IsDir() && !e.Type().IsRegular() {
			return nil // a link, socket or device: not the server's to change
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		return tighten(path, info, logger)
	})
}

// tighten removes the bits of path that secureDataDir does not allow.
func tighten(path string, info fs.FileInfo, logger *slog.Logger) error {
	mode := info.Mode().Perm()
	want := mode &^ 0o077
	if !info.IsDir() {
		want &^= 0o100
	}
	if want == mode {
		return nil
	}
	if err := os.Chmod(path, want); errors.Is(err, fs.ErrPermission) {
		logger.Warn("cannot tighten the permissions of a file in the data directory: make the server's user own it, or remove it",
			"path", path, "mode", fmt.Sprintf("%#o", mode), "err", err)
		return nil
	} else if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if mode&0o077 != 0 {
		logger.Warn("removed group and other permissions in the data directory", "path", path,
			"was", fmt.Sprintf("%#o", mode), "now", fmt.Sprintf("%#o", want))
	}
	return nil
}
