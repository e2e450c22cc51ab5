//go:build !cgo

package hwkey

import (
	"crypto"
	"io"
)

// Supported reports whether this build can use hardware keys.
const Supported = false

// Token is a hardware key; a build without cgo cannot open one.
type Token struct{}

// Open returns ErrNeedsCgo: this build cannot load a PKCS#11 module.
func Open(Config) (*Token, error) { return nil, ErrNeedsCgo }

// Serial returns "".
func (*Token) Serial() string { return "" }

// Public returns nil.
func (*Token) Public() crypto.PublicKey { return nil }

// Sign returns ErrNeedsCgo.
func (*Token) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, ErrNeedsCgo }

// Check returns ErrNeedsCgo.
func (*Token) Check() error { return ErrNeedsCgo }

// Close does nothing.
func (*Token) Close() error { return nil }
