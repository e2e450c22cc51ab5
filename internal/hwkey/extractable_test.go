//go:build cgo

package hwkey_test

import (
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/usher-lm/usher/internal/hwkey"
)

// TestKeyNeverLeavesTheToken reads the key the server made straight from
// the module: private, sensitive, not extractable, and its value refused.
func TestKeyNeverLeavesTheToken(t *testing.T) {
	soft := softhsm2(t)
	tok := open(t, soft.Config())
	tok.Close() // one user of the module per process

	ctx := pkcs11.New(soft.Module)
	if ctx == nil {
		t.Fatal("load the module")
	}
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer ctx.Finalize()
	slots, err := ctx.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots: %v, %v", slots, err)
	}
	h, err := ctx.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.CloseSession(h)
	if err := ctx.Login(h, pkcs11.CKU_USER, soft.PIN); err != nil {
		t.Fatal(err)
	}
	if err := ctx.FindObjectsInit(h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_LABEL, hwkey.KeyLabel),
	}); err != nil {
		t.Fatal(err)
	}
	keys, _, err := ctx.FindObjects(h, 4)
	ctx.FindObjectsFinal(h)
	if err != nil || len(keys) != 1 {
		t.Fatalf("got private keys %v, %v, want one labelled %s", keys, err, hwkey.KeyLabel)
	}
	attrs, err := ctx.GetAttributeValue(h, keys[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []byte{0, 1, 1} {
		if got := attrs[i].Value; len(got) != 1 || got[0] != want {
			t.Errorf("attribute %#x: got %v, want %d", attrs[i].Type, got, want)
		}
	}
	if _, err := ctx.GetAttributeValue(h, keys[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
		t.Fatal("reading the private key's value: got it, want the token to refuse")
	}
}
