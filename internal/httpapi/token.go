package httpapi

import (
	"bytes"
	"io"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// proof signs the token of a checkout or heartbeat answer with the
// session key; without a session (Config.Session), answers carry none.
func (s *Server) proof(lease usher.Lease, nonce string) wire.LeaseProof {
	if s.session == nil {
		return wire.LeaseProof{}
	}
	sess := s.session()
	if sess == nil {
		return wire.LeaseProof{}
	}
	tok := sess.SignToken(usher.Token{
		Purpose: usher.TokenLease, LeaseID: lease.ID, Feature: lease.Feature, ClientID: lease.Client.ID,
		Nonce: nonce, LicenseID: lease.License, ServerTime: s.now(), ExpiresAt: lease.ExpiresAt,
	})
	return wire.LeaseProof{Token: tok, SessionCert: sess.CertText()}
}

// heartbeatNonce reads the optional body of a heartbeat.
func heartbeatNonce(r *http.Request) (string, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return "", usher.Errorf(usher.EInvalid, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	var body wire.HeartbeatRequest
	if err := decodeStrict(data, &body); err != nil {
		return "", err
	}
	return body.Nonce, checkNonce(body.Nonce)
}

// maxNonce bounds the nonce a client sends.
const maxNonce = 128

func checkNonce(n string) error {
	if len(n) > maxNonce {
		return usher.Errorf(usher.EInvalid, "nonce is %d bytes, more than %d: send a short random value", len(n), maxNonce)
	}
	return nil
}

// handleLicenseText answers GET /v1/licenses/{id}/text: the signed text
// of a license this server serves, for a client that checks the license
// a lease token names.
func (s *Server) handleLicenseText(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, l := range s.ledger().Licenses() {
		if l.ID == id {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			w.Write(l.Text)
			return
		}
	}
	s.error(w, r, usher.Errorf(usher.ELicenseNotFound, "license %s is not served here: list the licenses with usher license list", id))
}
