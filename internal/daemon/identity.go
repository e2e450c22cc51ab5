package daemon

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// IdentityFile is the name of the server's identity key in the data
// directory: an Ed25519 private key, PKCS#8 PEM, mode 0600.
const IdentityFile = "identity.key"

// LoadIdentity returns the server's identity key from the data directory,
// creating it on first use.
func LoadIdentity(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, IdentityFile)
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := usher.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("server identity %s: %v: move the file away to make a new identity (licenses bound to the old one stop serving)", path, usher.ErrorMessage(err))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the server identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	pemText, err := usher.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadIdentity(dir) // another process made it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("create the server identity: %w", err)
	}
	if _, err := f.Write(pemText); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the server identity: %w", err)
	}
	return key, f.Close()
}

// identity is this server's identity and the locks that let it serve its
// bound licenses.
type identity struct {
	// key signs for this server: the ed25519.PrivateKey of the data
	// directory, or a key that never leaves a hardware token. Its Public()
	// is an ed25519.PublicKey; sign with crypto.Hash(0) (pure Ed25519).
	// A hardware token is slow and may be unplugged: sign with it rarely
	// (certify a key made at start, say), never once per checkout.
	key  crypto.Signer
	self usher.ServerIdentity
	guid string
	gate usher.BindingGate
	// locks are taken by the deciding node for as long as it decides:
	// while another server holds one, bound licenses are not served.
	locks []usher.IdentityLock
	hw    hardwareKey // see hwkey.go
}

// startIdentity loads the identity (in a cluster, the cluster's: see
// shareIdentity) and the identity locks that the deciding node takes (see
// holdIdentity).
func (d *Daemon) startIdentity(ctx context.Context) error {
	dir, err := identityLockDir(d.cfg.IdentityLockDir)
	if err != nil {
		return err
	}
	volume, err := LoadVolumeID(d.cfg.Data)
	if err != nil {
		return err
	}
	key, tok, err := d.loadIdentityKey() // hwkey.go
	if err != nil {
		return err
	}
	if d.cfg.ClusterMode() {
		if key, volume, err = d.shareIdentity(ctx, key, volume); err != nil {
			return err
		}
	}
	traits := d.opts.HostTraits
	if traits == nil {
		traits = usher.ReadHostTraits
	}
	pub := key.Public().(ed25519.PublicKey)
	d.ident = &identity{key: key, self: usher.ServerIdentity{Key: pub, Host: traits(), Volume: volume, Signer: key}, guid: usher.ServerGUID(pub)}
	if tok != nil {
		d.ident.hw.tok, d.ident.self.HardwareKey = tok, tok.Serial()
		d.startHardwareKeyWatch()
	}
	// The widest lock first: its refusal names the other holder best.
	if d.back.identityLock != nil {
		d.ident.locks = append(d.ident.locks, d.back.identityLock)
	}
	d.ident.locks = append(d.ident.locks, hostLock{}, dirLock{dir: dir})
	return nil
}

// closeIdentity logs out of the hardware key. Close calls it after every
// goroutine has stopped; the identity locks ended with the last term.
func (d *Daemon) closeIdentity() {
	d.closeHardwareKey()
}

// serverInfo is what GET /v1/server answers.
func (d *Daemon) serverInfo() *wire.ServerIdentity {
	return &wire.ServerIdentity{
		ServerKey: usher.FormatServerKey(d.ident.self.Key), GUID: d.ident.guid,
		HardwareID: d.hardwareID(), Version: d.opts.Version,
	}
}

// IdentityKey returns the key that signs for this server: its Public() is
// an ed25519.PublicKey (the server key of GET /v1/server), and Sign takes
// crypto.Hash(0) for pure Ed25519. It may live in a hardware token, where
// Sign is slow and fails while the token is away.
func (d *Daemon) IdentityKey() crypto.Signer { return d.ident.key }

// ledgerIdentity returns what every ledger of this daemon checks bindings
// against, and the gate of its bound licenses.
func (d *Daemon) ledgerIdentity() (*usher.ServerIdentity, *usher.BindingGate) {
	return &d.ident.self, &d.ident.gate
}

// Fingerprint is what a customer sends the vendor to have a license bound
// to a server or a host (usher server fingerprint).
type Fingerprint struct {
	ServerKey       string           `json:"server_key"`
	VolumeID        string           `json:"volume_id"`
	HostFingerprint string           `json:"host_fingerprint"`
	Traits          usher.HostTraits `json:"traits"`
	HardwareKey     *string          `json:"hardware_key_serial"` // null: no hardware key
}

// ReadFingerprint returns the fingerprint of the server whose data
// directory is dir, creating its identity if it has none.
func ReadFingerprint(dir string, traits func() usher.HostTraits) (Fingerprint, error) {
	key, err := LoadIdentity(dir)
	if err != nil {
		return Fingerprint{}, err
	}
	volume, err := LoadVolumeID(dir)
	if err != nil {
		return Fingerprint{}, err
	}
	if traits == nil {
		traits = usher.ReadHostTraits
	}
	h := traits()
	return Fingerprint{
		ServerKey: usher.FormatServerKey(key.Public().(ed25519.PublicKey)), VolumeID: volume, HostFingerprint: h.String(), Traits: h,
	}, nil
}
