package daemon

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
)

// shareIdentity returns the identity of the cluster: the identity key and
// data volume ID of the first node that started, kept in etcd, which every
// node adopts (and writes into its data directory, so that usher server
// fingerprint prints it). A license bound to the cluster then serves on
// whichever node decides, before and after a failover. A node whose key
// is in a hardware token keeps its own.
func (d *Daemon) shareIdentity(ctx context.Context, key crypto.Signer, volume string) (crypto.Signer, string, error) {
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		// A key in a hardware token never leaves it: this node keeps its
		// own identity, and licenses bound to it serve only while it decides.
		d.logger.Warn("this node's identity is in a hardware key, which cannot be shared with the other nodes: licenses bound to it serve only while this node decides")
		return key, volume, nil
	}
	mine, err := usher.MarshalPrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sharedKey, err := d.back.share(ctx, "identity_key", string(mine))
	if err != nil {
		return nil, "", fmt.Errorf("share the cluster's identity: %w", err)
	}
	sharedVolume, err := d.back.share(ctx, "volume_id", volume)
	if err != nil {
		return nil, "", fmt.Errorf("share the cluster's volume id: %w", err)
	}
	if sharedKey != string(mine) {
		if key, err = usher.ParsePrivateKey([]byte(sharedKey)); err != nil {
			return nil, "", fmt.Errorf("the cluster's identity key in etcd: %w", err)
		}
		if err := replaceFile(filepath.Join(d.cfg.Data, IdentityFile), []byte(sharedKey)); err != nil {
			return nil, "", err
		}
		d.logger.Info("adopted the cluster's identity", "server_key", usher.FormatServerKey(key.Public().(ed25519.PublicKey)))
	}
	if sharedVolume = strings.TrimSpace(sharedVolume); sharedVolume != volume {
		if err := replaceFile(filepath.Join(d.cfg.Data, VolumeFile), []byte(sharedVolume+"\n")); err != nil {
			return nil, "", err
		}
	}
	return key, sharedVolume, nil
}

// replaceFile writes data to path through a temporary file and a rename,
// so a crash leaves the old file or the new one, never a torn one.
func replaceFile(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
