package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// Check validates cfg as Validate does, and also what only the file system
// can tell: that every vendor key can be read and parsed, and that the
// directory of log_file exists. Like Validate it names the bad key.
func Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := loadKeyring(vendorKeys(cfg)); err != nil {
		return err
	}
	if cfg.LogFile != "" {
		dir := filepath.Dir(cfg.LogFile)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("log_file: directory %s does not exist: create it or choose another file", dir)
		}
	}
	return nil
}
