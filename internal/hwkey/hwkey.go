// Package hwkey holds a server's identity key in a hardware key (a token
// reached through a PKCS#11 module: a YubiKey or smart card through
// OpenSC, a vendor's module, SoftHSM2). The key is made in the token and
// never leaves it; the server signs with it as a crypto.Signer.
//
// The real thing needs cgo (it loads the module with dlopen). A build
// without cgo compiles and runs, and Open says the hardware key needs the
// cgo build.
package hwkey

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyLabel is the label (CKA_LABEL, and CKA_ID) of the identity key a
// server makes in its token.
const KeyLabel = "usher-identity"

// ErrNeedsCgo is what Open returns in a build without cgo.
var ErrNeedsCgo = errors.New("hardware keys need the cgo build of usher: build it with CGO_ENABLED=1 and a C compiler, or unset hardware_key_module")

// Config says which token holds the identity key.
type Config struct {
	// Module is the path of the PKCS#11 module, like
	// /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so.
	Module string
	// Token is the label or serial of the token; "" takes the only one
	// plugged in.
	Token string
	// PIN is the user PIN; "" does not log in.
	PIN string
}

// ReadPIN returns the PIN in the file at path, without its line end. An
// empty path gives an empty PIN.
func ReadPIN(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read hardware_key_pin_file: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// decodePoint reads CKA_EC_POINT of an Ed25519 public key: the 32 bytes,
// bare or (as PKCS#11 3.0 says) in a DER OCTET STRING.
func decodePoint(b []byte) (ed25519.PublicKey, error) {
	switch {
	case len(b) == ed25519.PublicKeySize:
		return ed25519.PublicKey(b), nil
	case len(b) == ed25519.PublicKeySize+2 && b[0] == 0x04 && b[1] == ed25519.PublicKeySize:
		return ed25519.PublicKey(b[2:]), nil
	}
	return nil, fmt.Errorf("the token's public key is not an Ed25519 key (%d bytes)", len(b))
}
