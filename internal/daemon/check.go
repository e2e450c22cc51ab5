package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/usher-lm/usher/internal/policyfile"
)

// Check validates cfg as Validate does, and also what only the file system
// can tell, without changing anything lasting: that every vendor key can
// be read and parsed, that the TLS certificate and key can, that the data
// directory and identity_lock_dir can be created or written, that the
// policy file parses, that the directory of log_file exists, and that the
// hardware key's module and PIN file can be read. Like Validate it names
// the bad key.
func Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := loadKeyring(vendorKeys(cfg)); err != nil {
		return err
	}
	if s := cfg.Security; s.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
			return fmt.Errorf("tls_cert, tls_key: %w: give a readable PEM certificate and its key", err)
		}
	}
	if cfg.Data != "" {
		if err := checkDataDir(cfg.Data); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	if cfg.IdentityLockDir != "" {
		if err := checkDataDir(cfg.IdentityLockDir); err != nil {
			return fmt.Errorf("identity_lock_dir: %w", err)
		}
	}
	if cfg.PolicyFile != "" {
		if _, _, err := policyfile.Read(cfg.PolicyFile); err != nil {
			return fmt.Errorf("policy_file: %w", err)
		}
	}
	if err := checkHardwareKey(cfg); err != nil { // hwkey.go
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

// checkDataDir checks that dir, or the nearest directory above it that
// exists (where the server would create it), is a directory this process
// can write to, by creating and removing an empty directory in it.
func checkDataDir(dir string) error {
	at := dir
	for {
		st, err := os.Stat(at)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory: choose another data directory", at)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(at) == at {
			return fmt.Errorf("cannot use %s: %w", dir, err)
		}
		at = filepath.Dir(at)
	}
	probe, err := os.MkdirTemp(at, ".usher-check-")
	if err != nil {
		return fmt.Errorf("cannot create or write %s: %w: choose a directory this user may write", dir, unwrapPath(err))
	}
	return os.Remove(probe)
}

// unwrapPath drops the path from a *fs.PathError, which names the probe.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
