//go:build cgo

package hwkey

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// explain turns a PKCS#11 error into one that says what to check.
func explain(op string, err error) error {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch code {
	case pkcs11.CKR_PIN_INCORRECT:
		return fmt.Errorf("%s: the PIN is wrong (%w): check hardware_key_pin_file; a few more wrong tries lock the key", op, err)
	case pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("%s: the PIN is locked after too many wrong tries (%w): unblock it with the key's own tools, then check hardware_key_pin_file", op, err)
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		return fmt.Errorf("%s: the key refuses the PIN's form (%w): check hardware_key_pin_file holds the PIN alone", op, err)
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return fmt.Errorf("%s: the key needs its PIN (%w): set hardware_key_pin_file", op, err)
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_USER_ALREADY_LOGGED_IN, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_FUNCTION_FAILED:
		return fmt.Errorf("%s: the hardware key does not answer (%w): it was unplugged, or another process holds the reader; stop it, or check pcscd", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
