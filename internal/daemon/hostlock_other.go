//go:build !unix

package daemon

import (
	"io"
	"os"
	"path/filepath"
)

// acquireHostLock takes the host-wide lock of an identity: a file in the
// temporary directory created afresh and held open. Windows cannot delete
// a file another process holds open, so a second server fails at the
// Remove; the file is closed, and deletable again, when the process dies.
func acquireHostLock(guid string) (io.Closer, error) {
	path := filepath.Join(os.TempDir(), "usher-"+guid+".lock")
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err // open in another process
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}
