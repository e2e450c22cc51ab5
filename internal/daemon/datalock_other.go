//go:build !unix

package daemon

import "os"

// lockFile creates path afresh and holds it open. Windows cannot delete a
// file that another process holds open, so a second server fails at the
// Remove; the file is closed, and deletable again, when the process dies.
func lockFile(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}
