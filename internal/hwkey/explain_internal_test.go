//go:build cgo

package hwkey

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestExplainSaysWhatToCheck covers the PKCS#11 errors SoftHSM2 cannot be
// made to give: a reader another process holds, a locked PIN.
func TestExplainSaysWhatToCheck(t *testing.T) {
	for code, want := range map[pkcs11.Error]string{
		pkcs11.CKR_PIN_INCORRECT:          "check hardware_key_pin_file",
		pkcs11.CKR_PIN_LOCKED:             "unblock it",
		pkcs11.CKR_USER_NOT_LOGGED_IN:     "set hardware_key_pin_file",
		pkcs11.CKR_DEVICE_ERROR:           "another process holds the reader; stop it, or check pcscd",
		pkcs11.CKR_TOKEN_NOT_PRESENT:      "another process holds the reader; stop it, or check pcscd",
		pkcs11.CKR_USER_ALREADY_LOGGED_IN: "another process holds the reader; stop it, or check pcscd",
		pkcs11.CKR_DEVICE_REMOVED:         "unplugged",
	} {
		err := explain("log in to the hardware key", code)
		if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "log in to the hardware key: ") {
			t.Errorf("%v: got %q, want the operation and %q", code, err, want)
		}
		var got pkcs11.Error
		if !errors.As(err, &got) || got != code {
			t.Errorf("%v: got %v unwrapped, want the code kept", code, got)
		}
	}
}
