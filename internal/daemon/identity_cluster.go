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
// whichever node decides, before and after a failover.
func (d *Daemon) shareIdentity(ctx context.Context, key crypto.Signer, volume string) (crypto.Signer, string, error) {
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("the nodes of a cluster share one identity key through etcd, and this node's key cannot leave its store: start cluster nodes with an identity.key file")
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
