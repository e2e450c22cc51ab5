package httpapi

import (
	"errors"
	"io"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

func licenseResponse(l *usher.License) wire.LicenseResponse {
	out := wire.LicenseResponse{ID: l.ID, Licensee: l.Licensee, IssuedAt: l.IssuedAt, KeyID: l.KeyID, Features: []wire.GrantResponse{}, RequireHardwareKey: l.RequireHardwareKey, LicenseeSecret: l.LicenseeSecret}
	if l.BindServer != nil {
		out.BindServer = usher.FormatServerKey(l.BindServer)
	}
	if l.BindHost != nil {
		out.BindHost, out.BindHostMin = l.BindHost.Traits.String(), l.BindHost.Min
	}
	out.BindVolume = l.BindVolume
	for _, g := range l.Grants {
		gr := wire.GrantResponse{Name: g.Feature, Seats: g.Seats, Unlimited: g.Unlimited, GrantModels: wire.GrantModelsOf(g), Users: g.Users}
		if !g.StartsAt.IsZero() {
			gr.StartsAt = &g.StartsAt
		}
		if !g.ExpiresAt.IsZero() {
			gr.ExpiresAt = &g.ExpiresAt
		}
		out.Features = append(out.Features, gr)
	}
	return out
}

func (s *Server) handleAddLicense(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = usher.Errorf(usher.ELicenseInvalid, "license file is larger than %d bytes: this is not an Usher license", tooBig.Limit)
		}
		s.error(w, r, err)
		return
	}
	lic, err := s.ledger().AddLicense(r.Context(), text)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.withModels(licenseResponse(lic)))
}

func (s *Server) handleLicenses(w http.ResponseWriter, r *http.Request) {
	out := []wire.LicenseResponse{}
	for _, l := range s.ledger().Licenses() {
		lr := s.withModels(licenseResponse(l))
		if b, ok := s.ledger().SecretBinding(l.ID); ok {
			lr.SecretBoundAt = &b.BoundAt
		}
		out = append(out, lr)
	}
	writeJSON(w, http.StatusOK, wire.LicensesResponse{Licenses: out, Refused: s.ledger().RefusedLicenses(), Released: releasedLicenses(s.ledger())})
}

func (s *Server) handleRemoveLicense(w http.ResponseWriter, r *http.Request) {
	lic, err := s.ledger().RemoveLicense(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, licenseResponse(lic))
}
