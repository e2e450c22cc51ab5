package usher

import (
	"crypto/ed25519"
	"time"
)

// announcementContext prefixes what a session key signs for an
// announcement on the LAN, so that the signature cannot pass for a lease
// token or anything else.
const announcementContext = "usher-announcement\x00"

// SignAnnouncement signs the body of an announcement on the LAN with the
// session key. Receivers check it with VerifyAnnouncement and the
// session's CertText.
func (s *Session) SignAnnouncement(body []byte) []byte {
	return ed25519.Sign(s.key, append([]byte(announcementContext), body...))
}

// VerifyAnnouncement checks that body was signed by the session key that
// certText certifies, and that the certificate is in force at now. It
// returns the certificate, whose ServerKey (and so ServerGUID) names the
// server that sent it. It returns EUntrustedServer errors.
func VerifyAnnouncement(certText string, body, sig []byte, now time.Time) (*SessionCert, error) {
	c, err := VerifySessionCert(certText)
	if err != nil {
		return nil, err
	}
	if !c.ValidAt(now) {
		return nil, untrusted("the announcement's session certificate is not in force at %s (from %s to %s): check the clocks", now.UTC().Format(time.RFC3339), c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	if !ed25519.Verify(c.SessionKey, append([]byte(announcementContext), body...), sig) {
		return nil, untrusted("the announcement is not signed by the session key its certificate names")
	}
	return c, nil
}
