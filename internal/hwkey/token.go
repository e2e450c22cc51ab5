//go:build cgo

package hwkey

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/miekg/pkcs11"
)

// Supported reports whether this build can use hardware keys.
const Supported = true

// Token is an open hardware key holding the server's identity key. It is a
// crypto.Signer whose Public() is an ed25519.PublicKey; every method is
// safe for concurrent use.
type Token struct {
	cfg    Config
	serial string
	pub    ed25519.PublicKey

	mu   sync.Mutex
	ctx  *pkcs11.Ctx // nil once closed
	sess *session    // nil while the token is away
}

var _ crypto.Signer = (*Token)(nil)

// Open loads the module, finds the token, logs in and returns it with the
// identity key: the one labelled KeyLabel, else the token's only Ed25519
// key, else one it makes there (not extractable). The errors say what to
// check: the module path, the PIN file, the token's label or serial, or
// the reader another process holds.
func Open(cfg Config) (*Token, error) {
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("hardware_key_module %s: %w: give the path of a PKCS#11 module (install opensc for YubiKey and smart cards, softhsm2 for SoftHSM2)", cfg.Module, errors.Unwrap(err))
	}
	ctx := pkcs11.New(cfg.Module)
	if ctx == nil {
		return nil, fmt.Errorf("hardware_key_module %s cannot be loaded as a PKCS#11 module: check the path and that it is built for this machine (install opensc for YubiKey and smart cards, softhsm2 for SoftHSM2)", cfg.Module)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		if code, ok := err.(pkcs11.Error); ok && code == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			return nil, fmt.Errorf("hardware_key_module %s is in use already in this process: open the hardware key once", cfg.Module)
		}
		return nil, explain("initialize "+cfg.Module, err)
	}
	t := &Token{cfg: cfg, ctx: ctx}
	s, err := t.connect(cfg.Token)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.sess, t.serial, t.pub = s, s.serial, s.pub
	return t, nil
}

// Serial returns the token's serial number: the server's hardware ID.
func (t *Token) Serial() string { return t.serial }

// Public returns the identity key's public half, an ed25519.PublicKey.
func (t *Token) Public() crypto.PublicKey { return t.pub }

// Sign signs msg with the identity key in the token (pure Ed25519: opts
// must be crypto.Hash(0)). It fails while the token is away.
func (t *Token) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("hardware key: sign the message itself, with crypto.Hash(0): the key is Ed25519")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sess == nil {
		return nil, fmt.Errorf("hardware key %s is not accessible: plug it back in", t.serial)
	}
	return t.sess.sign(t.ctx, msg)
}

// Check tells whether the token is plugged in and holds the identity key:
// it looks for the token, then has it sign a fresh random challenge and
// verifies the signature with the public key read at Open. While the
// token is away it loads the module afresh on every call, since some
// modules (SoftHSM2) see a token come back only then.
func (t *Token) Check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return errors.New("hardware key closed")
	}
	if t.sess == nil {
		if err := t.reconnect(); err != nil {
			return err
		}
	}
	if err := t.challenge(); err != nil {
		t.drop()
		return err
	}
	return nil
}

func (t *Token) challenge() error {
	if _, err := t.findSlot(t.serial); err != nil {
		return err
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	sig, err := t.sess.sign(t.ctx, nonce)
	if err != nil {
		return err
	}
	if !ed25519.Verify(t.pub, nonce, sig) {
		return fmt.Errorf("hardware key %s signed a challenge with another key than the server's: plug the server's own key in", t.serial)
	}
	return nil
}

// reconnect loads the module afresh and finds the same token and key.
func (t *Token) reconnect() error {
	t.ctx.Finalize()
	if err := t.ctx.Initialize(); err != nil {
		return explain("initialize "+t.cfg.Module, err)
	}
	s, err := t.connect(t.serial)
	if err != nil {
		return err
	}
	if !s.pub.Equal(t.pub) {
		s.close(t.ctx)
		return fmt.Errorf("hardware key %s came back with another identity key: plug the server's own key in", t.serial)
	}
	t.sess = s
	return nil
}

// drop forgets the session of a token that went away.
func (t *Token) drop() {
	if t.sess != nil {
		t.sess.close(t.ctx)
		t.sess = nil
	}
}

// Close logs out and unloads the module. It is safe to call twice.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return nil
	}
	t.drop()
	t.ctx.Finalize()
	t.ctx.Destroy()
	t.ctx = nil
	return nil
}
