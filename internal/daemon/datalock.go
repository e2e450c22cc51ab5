package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the file in the data directory that a running server holds
// locked, so that a second server on the same directory refuses to start:
// two servers deciding on one store would each hand out every seat.
const LockFile = "usher.lock"

// lockDataDir takes the data directory's lock and writes this process's
// id into the lock file, or says which process holds it.
func lockDataDir(dir string) (io.Closer, error) {
	path := filepath.Join(dir, LockFile)
	f, err := lockFile(path)
	if err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = " (process " + pid + ")"
			}
		}
		return nil, fmt.Errorf("data directory %s is in use by another usher server%s: stop that server, or give this one another data directory (--data)", dir, holder)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
