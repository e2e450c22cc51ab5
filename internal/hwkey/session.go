//go:build cgo

package hwkey

import (
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// Ed25519 in PKCS#11 3.0; miekg/pkcs11 does not name them yet.
const (
	ckkECEdwards             = 0x00000040
	ckmECEdwardsKeyPairGen   = 0x00001055
	ckmEdDSA                 = 0x00001057
	maxObjects               = 16
	ed25519OID               = "\x06\x03\x2b\x65\x70" // DER of 1.3.101.112, id-Ed25519
	privateKeyGenerationHint = "use a token that makes Ed25519 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN: SoftHSM2 2.6 or later, a YubiKey 5.7 or later), or make an Ed25519 key in it with its own tools"
)

// session is a logged-in session on the token and the identity key in it.
type session struct {
	handle pkcs11.SessionHandle
	priv   pkcs11.ObjectHandle
	pub    ed25519.PublicKey
	serial string
}

// connect opens a session on the token that match names (its label or
// serial; "" for the only one), logs in and finds or makes the key.
func (t *Token) connect(match string) (*session, error) {
	slot, err := t.findSlot(match)
	if err != nil {
		return nil, err
	}
	info, err := t.ctx.GetTokenInfo(slot)
	if err != nil {
		return nil, explain("read the token", err)
	}
	h, err := t.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, explain("open a session on the hardware key", err)
	}
	s := &session{handle: h, serial: strings.TrimSpace(info.SerialNumber)}
	if err := t.login(h); err != nil {
		s.close(t.ctx)
		return nil, err
	}
	if s.priv, s.pub, err = t.identityKey(h); err != nil {
		s.close(t.ctx)
		return nil, err
	}
	return s, nil
}

// findSlot returns the slot of the token named match, or an error that
// lists the tokens seen.
func (t *Token) findSlot(match string) (uint, error) {
	slots, infos, err := t.tokens()
	if err != nil {
		return 0, err
	}
	var seen []string
	for i, info := range infos {
		label, serial := strings.TrimSpace(info.Label), strings.TrimSpace(info.SerialNumber)
		if match == label || match == serial || (match == "" && len(slots) == 1) {
			return slots[i], nil
		}
		seen = append(seen, fmt.Sprintf("%q (serial %s)", label, serial))
	}
	switch {
	case len(seen) == 0 && match == "":
		return 0, fmt.Errorf("no hardware key is plugged in: plug it in (for a smart card or YubiKey, check that pcscd runs)")
	case len(seen) == 0:
		return 0, fmt.Errorf("hardware key %q is not plugged in, and no other is: plug it in (for a smart card or YubiKey, check that pcscd runs)", match)
	case match == "":
		return 0, fmt.Errorf("several hardware keys are plugged in: %s; set hardware_key_token to the label or serial of one", strings.Join(seen, ", "))
	}
	return 0, fmt.Errorf("hardware key %q is not plugged in; seen: %s; set hardware_key_token to the label or serial of one", match, strings.Join(seen, ", "))
}

// tokens returns the slots with an initialized token, and their tokens.
func (t *Token) tokens() ([]uint, []pkcs11.TokenInfo, error) {
	all, err := t.ctx.GetSlotList(true)
	if err != nil {
		return nil, nil, explain("list the hardware keys", err)
	}
	var slots []uint
	var infos []pkcs11.TokenInfo
	for _, slot := range all {
		info, err := t.ctx.GetTokenInfo(slot)
		if err != nil || info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // gone meanwhile, or a blank slot (SoftHSM2 always shows one)
		}
		slots, infos = append(slots, slot), append(infos, info)
	}
	return slots, infos, nil
}

func (t *Token) login(h pkcs11.SessionHandle) error {
	if t.cfg.PIN == "" {
		return nil
	}
	err := t.ctx.Login(h, pkcs11.CKU_USER, t.cfg.PIN)
	if code, ok := err.(pkcs11.Error); ok && code == pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		return nil // this process's other session logged in
	}
	if err != nil {
		return explain("log in to the hardware key", err)
	}
	return nil
}

// identityKey finds the identity key, or makes it in the token.
func (t *Token) identityKey(h pkcs11.SessionHandle) (pkcs11.ObjectHandle, ed25519.PublicKey, error) {
	keys, err := t.find(h, pkcs11.CKO_PRIVATE_KEY, pkcs11.NewAttribute(pkcs11.CKA_LABEL, KeyLabel))
	if err == nil && len(keys) == 0 {
		keys, err = t.find(h, pkcs11.CKO_PRIVATE_KEY)
	}
	if err != nil {
		return 0, nil, err
	}
	switch len(keys) {
	case 0:
		return t.generate(h)
	case 1:
		pub, err := t.publicOf(h, keys[0])
		return keys[0], pub, err
	}
	return 0, nil, fmt.Errorf("the hardware key holds %d Ed25519 keys and none is labelled %s: label the one to use %s, or remove the others", len(keys), KeyLabel, KeyLabel)
}

// find returns the Ed25519 objects of class cls that match attrs.
func (t *Token) find(h pkcs11.SessionHandle, cls uint, attrs ...*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	tmpl := append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, cls), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards)}, attrs...)
	if err := t.ctx.FindObjectsInit(h, tmpl); err != nil {
		return nil, explain("look for the identity key", err)
	}
	objs, _, err := t.ctx.FindObjects(h, maxObjects)
	if ferr := t.ctx.FindObjectsFinal(h); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, explain("look for the identity key", err)
	}
	return objs, nil
}

// publicOf reads the public key that goes with the private key priv: the
// public key object with the same CKA_ID.
func (t *Token) publicOf(h pkcs11.SessionHandle, priv pkcs11.ObjectHandle) (ed25519.PublicKey, error) {
	attrs, err := t.ctx.GetAttributeValue(h, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
	if err != nil {
		return nil, explain("read the identity key", err)
	}
	pubs, err := t.find(h, pkcs11.CKO_PUBLIC_KEY, pkcs11.NewAttribute(pkcs11.CKA_ID, attrs[0].Value))
	if err != nil {
		return nil, err
	}
	if len(pubs) != 1 {
		return nil, fmt.Errorf("the hardware key shows no public key for its Ed25519 key (CKA_ID %x): store its public key (or certificate) in the token too", attrs[0].Value)
	}
	point, err := t.ctx.GetAttributeValue(h, pubs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, explain("read the identity key", err)
	}
	return decodePoint(point[0].Value)
}

// generate makes the identity key in the token. Its private half is
// sensitive and not extractable: it never leaves the token.
func (t *Token) generate(h pkcs11.SessionHandle) (pkcs11.ObjectHandle, ed25519.PublicKey, error) {
	pubTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, []byte(ed25519OID)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, KeyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(KeyLabel)),
	}
	privTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, KeyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(KeyLabel)),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}
	pubObj, priv, err := t.ctx.GenerateKeyPair(h, mech, pubTmpl, privTmpl)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s", explain("make the identity key in the hardware key", err), privateKeyGenerationHint)
	}
	point, err := t.ctx.GetAttributeValue(h, pubObj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return 0, nil, explain("read the new identity key", err)
	}
	pub, err := decodePoint(point[0].Value)
	return priv, pub, err
}

func (s *session) sign(ctx *pkcs11.Ctx, msg []byte) ([]byte, error) {
	if err := ctx.SignInit(s.handle, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, s.priv); err != nil {
		return nil, explain("sign with the hardware key", err)
	}
	sig, err := ctx.Sign(s.handle, msg)
	if err != nil {
		return nil, explain("sign with the hardware key", err)
	}
	return sig, nil
}

func (s *session) close(ctx *pkcs11.Ctx) { ctx.CloseSession(s.handle) }
