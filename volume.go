package usher

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// NewVolumeID returns a fresh data volume ID: a random UUID (version 4). A
// server makes one in its data directory on first start; a license issued
// with --bind-volume serves only on a server whose data volume has it.
func NewVolumeID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ParseVolumeID checks a volume ID written by NewVolumeID and returns it
// in lower case. It returns EInvalid errors.
func ParseVolumeID(s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	bad := len(id) != 36
	for i := 0; i < len(id) && !bad; i++ {
		switch c := id[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			bad = c != '-'
		default:
			bad = !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')
		}
	}
	if bad {
		return "", Errorf(EInvalid, "%q is not a volume id: copy the volume_id that usher server fingerprint prints (a UUID)", s)
	}
	return id, nil
}

// checkVolume returns nil when l is not bound to a volume or volume is the
// one it is bound to, and an ELicenseBoundElsewhere error otherwise.
func (l *License) checkVolume(volume string) error {
	switch {
	case l.BindVolume == "" || l.BindVolume == volume:
		return nil
	case volume == "":
		return Errorf(ELicenseBoundElsewhere, "license %s is bound to data volume %s, and this server has no volume id: serve it from the server whose data directory has that volume", l.ID, l.BindVolume)
	}
	return Errorf(ELicenseBoundElsewhere, "license %s is bound to data volume %s, and this server's data volume is %s: serve it from a server on that volume, or ask the vendor for a license bound to this one (usher server fingerprint prints its volume_id)",
		l.ID, l.BindVolume, volume)
}
