package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	usher "github.com/usher-lm/usher"
)

// VolumeFile is the name of the data volume's ID in the data directory: a
// UUID made on first start. A license issued with --bind-volume serves only
// on a server whose data directory holds it; a copy of the directory
// carries it, which the identity lock answers (see docs/trust.md).
const VolumeFile = "volume.id"

// LoadVolumeID returns the ID of the data volume dir, creating it on first
// use.
func LoadVolumeID(dir string) (string, error) {
	path := filepath.Join(dir, VolumeFile)
	data, err := os.ReadFile(path)
	if err == nil {
		id, err := usher.ParseVolumeID(string(data))
		if err != nil {
			return "", fmt.Errorf("data volume id %s: %v: move the file away to make a new id (licenses bound to the old one stop serving)", path, usher.ErrorMessage(err))
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the data volume id: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadVolumeID(dir) // another process made it meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("create the data volume id: %w", err)
	}
	id := usher.NewVolumeID()
	if _, err := f.WriteString(id + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write the data volume id: %w", err)
	}
	return id, f.Close()
}
