package daemon

import (
	"os"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/usher-lm/usher/internal/config"
)

// sizeRotator writes to a lumberjack log file and rotates it at a size in
// bytes: lumberjack counts whole megabytes, and log_max_size may be less
// ("200KB"). Lumberjack keeps the backups and removes the old ones.
type sizeRotator struct {
	mu   sync.Mutex
	lj   *lumberjack.Logger
	max  int64
	size int64 // bytes in the current file; -1 until it is known
}

func newSizeRotator(path string, max config.Size, backups int) *sizeRotator {
	return &sizeRotator{
		// Lumberjack's own limit sits above ours, so that only we rotate.
		lj:  &lumberjack.Logger{Filename: path, MaxSize: int(max/config.MB) + 1, MaxBackups: backups},
		max: int64(max), size: -1,
	}
}

// Write appends p, first rotating the file if p would take it past the
// limit. A record larger than the limit goes alone into a fresh file.
func (r *sizeRotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size < 0 {
		r.size = 0
		if st, err := os.Stat(r.lj.Filename); err == nil {
			r.size = st.Size() // lumberjack appends to an existing file
		}
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.lj.Rotate(); err != nil {
			return 0, err
		}
		r.size = 0
	}
	n, err := r.lj.Write(p)
	r.size += int64(n)
	return n, err
}

// Close closes the file.
func (r *sizeRotator) Close() error { return r.lj.Close() }
