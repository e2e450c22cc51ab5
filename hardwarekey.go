package usher

import (
	"strings"
	"time"
)

// maxSerial bounds a hardware key serial; PKCS#11 tokens have 16 bytes.
const maxSerial = 64

// FeatureHardwareKeyAbsent is the state of a feature that only licenses
// requiring a hardware key grant, while that key is not accessible.
const FeatureHardwareKeyAbsent = "hardware_key_absent"

// Values of FeatureStatus.HardwareKey.
const (
	HardwareKeyPresent = "present"
	HardwareKeyAbsent  = "absent"
)

func validateHardwareKeySerial(serial string) error {
	if serial == "" {
		return nil
	}
	if len(serial) > maxSerial || strings.TrimSpace(serial) != serial || strings.ContainsAny(serial, " \t\r\n") {
		return Errorf(EInvalid, "hardware key serial %q is not valid: copy hardware_key_serial from usher server fingerprint (at most %d characters, no spaces)", serial, maxSerial)
	}
	return nil
}

// checkHardwareKey refuses a license that requires a hardware key other
// than the one id holds its identity in.
func (l *License) checkHardwareKey(id *ServerIdentity) error {
	switch {
	case l.RequireHardwareKey == "" || l.RequireHardwareKey == id.HardwareKey:
		return nil
	case id.HardwareKey == "":
		return Errorf(ELicenseBoundElsewhere, "license %s requires hardware key %s, and this server has no hardware key: plug it in and set hardware_key_module (see docs/trust.md)", l.ID, l.RequireHardwareKey)
	default:
		return Errorf(ELicenseBoundElsewhere, "license %s requires hardware key %s, and this server's is %s: serve it with that key plugged in, or ask the vendor for a license for this key", l.ID, l.RequireHardwareKey, id.HardwareKey)
	}
}

// gateNeed says which gates a grant serves through.
type gateNeed uint8

const (
	needIdentity    gateNeed = 1 << iota // a bound license: the host lock
	needHardwareKey                      // the hardware key present
)

func licenseNeeds(l *License, gate, hw *BindingGate) gateNeed {
	var n gateNeed
	if l.Bound() && gate != nil {
		n |= needIdentity
	}
	if l.RequireHardwareKey != "" && hw != nil {
		n |= needHardwareKey
	}
	return n
}

// servable returns the grants of a gated pool that serve now, or the coded
// error that refuses a checkout when none does. It allocates only while a
// gate is blocked.
func (p *pool) servable(name string) ([]Grant, error) {
	var closed gateNeed
	why, blocked := p.gate.Blocked()
	if blocked {
		closed |= needIdentity
	}
	hwWhy, hwBlocked := p.hw.Blocked()
	if hwBlocked {
		closed |= needHardwareKey
	}
	if closed == 0 {
		return p.grants, nil
	}
	var out []Grant
	var refused gateNeed
	for i, g := range p.grants {
		if n := p.needs[i] & closed; n != 0 {
			refused |= n
			continue
		}
		out = append(out, g)
	}
	switch {
	case len(out) > 0:
		return out, nil
	case refused&needHardwareKey != 0:
		return nil, Errorf(EHardwareKeyNotAccessible, "feature %s is granted by a license that requires a hardware key, and %s: plug the key back in (leases held keep their seats until their keep-alive timeout)", name, hwWhy)
	default:
		return nil, Errorf(ELicenseInUseElsewhere, "feature %s is granted by a license bound to this server, and %s: stop the other server, or serve the license from one server only", name, why)
	}
}

// hardwareKeyState returns FeatureStatus.HardwareKey for the pool.
func (p *pool) hardwareKeyState() string {
	if p.hw == nil {
		return ""
	}
	if _, blocked := p.hw.Blocked(); blocked {
		return HardwareKeyAbsent
	}
	return HardwareKeyPresent
}

// heartbeatRefusalLocked returns the error that refuses renewing ls: its
// feature's licenses all expired, or only licenses requiring the absent
// hardware key grant it. The lease itself stays; its keep-alive timeout
// decides.
func (l *Ledger) heartbeatRefusalLocked(ls Lease, now time.Time) error {
	p := l.pools[ls.Feature]
	if p == nil || len(p.grants) == 0 {
		return nil
	}
	_, _, err := p.capacity(now, ls.Feature)
	switch ErrorCode(err) {
	case EFeatureExpired:
		return featureExpired(ls)
	case EHardwareKeyNotAccessible:
		return Errorf(EHardwareKeyNotAccessible, "lease %s is not renewed: %s", ls.ID, ErrorMessage(err))
	}
	return nil
}
