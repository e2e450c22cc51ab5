//go:build !linux

package daemon

import (
	"io"
	"os"
	"path/filepath"
)

// acquireHostLock takes the host-wide lock of an identity: a lock file in
// the temporary directory, held the way the data directory's is (see
// lockFile), which ends with the process.
func acquireHostLock(guid string) (io.Closer, error) {
	f, err := lockFile(filepath.Join(os.TempDir(), "usher-"+guid+".lock"))
	if err != nil {
		return nil, err
	}
	return f, nil
}
