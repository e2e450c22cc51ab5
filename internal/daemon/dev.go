package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	usher "github.com/usher-lm/usher"
)

// Dev mode: a throwaway vendor key and a demo license, so that a new user
// can try Usher with one command.
const (
	DevFeature = "demo"
	DevSeats   = 5
	devKeyFile = "dev-vendor.key"
	devPubFile = "dev-vendor.pub"
)

// DevDataDir is where dev mode keeps its data unless --data says otherwise.
func DevDataDir() string { return filepath.Join(os.TempDir(), "usher-dev") }

// PrepareDev fills in what dev mode needs and the user did not set: a data
// directory, a listen address, and a throwaway vendor key, created once.
// The daemon trusts that key, and no other, in dev mode.
func PrepareDev(cfg *Config) error {
	if cfg.Data == "" {
		cfg.Data = DevDataDir()
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{DevListen}
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create dev data directory: %w", err)
	}
	keyPath, pubPath := filepath.Join(cfg.Data, devKeyFile), filepath.Join(cfg.Data, devPubFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if err := WriteVendorKeys(keyPath, pubPath); err != nil {
			return err
		}
		// Like everything in the data directory, and the server checks.
		if err := os.Chmod(pubPath, 0o600); err != nil {
			return fmt.Errorf("dev vendor key: %w", err)
		}
	}
	return nil
}

// vendorKeys lists the vendor public key files cfg trusts: in dev mode,
// only the dev key (Validate refuses dev with vendor_key).
func vendorKeys(cfg Config) []string {
	if cfg.Dev {
		return []string{filepath.Join(cfg.Data, devPubFile)}
	}
	return cfg.VendorKey
}

// WriteVendorKeys creates an Ed25519 vendor key pair: the private key with
// mode 0600, the public key readable by all.
func WriteVendorKeys(keyPath, pubPath string) error {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	privPEM, err := usher.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	pubPEM, err := usher.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, privPEM, 0o600); err != nil {
		return fmt.Errorf("write vendor key: %w", err)
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return fmt.Errorf("write vendor public key: %w", err)
	}
	return nil
}

// addDemoLicense loads a demo license signed with the dev key, unless
// licenses are loaded already.
func (d *Daemon) addDemoLicense(ctx context.Context) error {
	if len(d.Ledger().Licenses()) > 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(d.cfg.Data, devKeyFile))
	if err != nil {
		return fmt.Errorf("read dev vendor key: %w", err)
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return err
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Usher dev mode", IssuedAt: time.Now(),
		Grants: []usher.Grant{{Feature: DevFeature, Seats: DevSeats}}}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		return err
	}
	_, err = d.Ledger().AddLicense(ctx, text)
	return err
}
