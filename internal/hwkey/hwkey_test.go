package hwkey_test

import (
	"crypto"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/hwkey"
	"github.com/usher-lm/usher/internal/hwkey/softhsmtest"
)

func open(t *testing.T, cfg hwkey.Config) *hwkey.Token {
	t.Helper()
	tok, err := hwkey.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

func TestKeyMadeInTokenAndKept(t *testing.T) {
	soft := softhsmtest.New(t, "usher-test", "1234")
	tok := open(t, soft.Config())
	if tok.Serial() != soft.Serial {
		t.Fatalf("got serial %q, want %q", tok.Serial(), soft.Serial)
	}
	pub, ok := tok.Public().(ed25519.PublicKey)
	if !ok {
		t.Fatalf("got public key %T, want ed25519.PublicKey", tok.Public())
	}
	msg := []byte("lease")
	sig, err := tok.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatal("the signature does not verify with Public()")
	}
	tok.Close()
	again := open(t, hwkey.Config{Module: soft.Module, Token: soft.Serial, PIN: soft.PIN}) // by serial this time
	if !pub.Equal(again.Public()) {
		t.Fatal("got another key after opening the token again, want the one made the first time")
	}
}

func TestUnplugAndReplug(t *testing.T) {
	soft := softhsm2(t)
	tok := open(t, soft.Config())
	if err := tok.Check(); err != nil {
		t.Fatalf("Check with the token in: %v", err)
	}
	soft.Unplug()
	if err := tok.Check(); err == nil {
		t.Fatal("Check with the token out: got nil, want an error")
	}
	if _, err := tok.Sign(nil, []byte("x"), crypto.Hash(0)); err == nil {
		t.Fatal("Sign with the token out: got nil, want an error")
	}
	if err := tok.Check(); err == nil {
		t.Fatal("Check again with the token out: got nil, want an error")
	}
	soft.Replug()
	if err := tok.Check(); err != nil {
		t.Fatalf("Check after the token came back: %v", err)
	}
	if _, err := tok.Sign(nil, []byte("x"), crypto.Hash(0)); err != nil {
		t.Fatalf("Sign after the token came back: %v", err)
	}
}

func softhsm2(t *testing.T) *softhsmtest.Token { return softhsmtest.New(t, "usher-test", "1234") }

func TestOpenErrorsSayWhatToCheck(t *testing.T) {
	soft := softhsm2(t)
	notModule := filepath.Join(t.TempDir(), "not-a-module.so")
	if err := os.WriteFile(notModule, []byte("text"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg  hwkey.Config
		want []string
	}{
		"missing module": {hwkey.Config{Module: "/nonexistent/opensc-pkcs11.so", Token: soft.Label, PIN: soft.PIN}, []string{"/nonexistent/opensc-pkcs11.so", "install opensc", "softhsm2"}},
		"bad module":     {hwkey.Config{Module: notModule, Token: soft.Label, PIN: soft.PIN}, []string{"cannot be loaded", "install opensc"}},
		"wrong PIN":      {hwkey.Config{Module: soft.Module, Token: soft.Label, PIN: "9999"}, []string{"PIN is wrong", "check hardware_key_pin_file"}},
		"no PIN":         {hwkey.Config{Module: soft.Module, Token: soft.Label}, []string{"set hardware_key_pin_file"}},
		"unknown token":  {hwkey.Config{Module: soft.Module, Token: "other", PIN: soft.PIN}, []string{`"other" is not plugged in`, `"usher-test" (serial ` + soft.Serial + ")", "hardware_key_token"}},
	} {
		tok, err := hwkey.Open(tc.cfg)
		if err == nil {
			tok.Close()
			t.Errorf("%s: got a token, want an error", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: got %q, want it to say %q", name, err, w)
			}
		}
	}
}

func TestReadPIN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(path, []byte("12 34\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := hwkey.ReadPIN(path); err != nil || got != "12 34" {
		t.Fatalf("got %q, %v, want %q", got, err, "12 34")
	}
	if _, err := hwkey.ReadPIN(path + ".none"); err == nil || !strings.Contains(err.Error(), "hardware_key_pin_file") {
		t.Fatalf("got %v, want an error naming hardware_key_pin_file", err)
	}
}
