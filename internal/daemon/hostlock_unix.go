//go:build unix && !linux

package daemon

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// acquireHostLock takes the host-wide lock of an identity: an exclusive
// flock on a file in the temporary directory, which the kernel frees when
// the process dies.
func acquireHostLock(guid string) (io.Closer, error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "usher-"+guid+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
