package httpapi

import (
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// handleReleaseLicense gives a license up for good and answers the
// receipt the vendor needs to issue it for another server.
func (s *Server) handleReleaseLicense(w http.ResponseWriter, r *http.Request) {
	lic, receipt, err := s.ledger().ReleaseLicense(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ReleaseResponse{License: licenseResponse(lic), Receipt: string(receipt)})
}

// releasedLicenses lists the released licenses in the API's form.
func releasedLicenses(led *usher.Ledger) []wire.ReleasedLicense {
	out := []wire.ReleasedLicense{}
	for _, r := range led.ReleasedLicenses() {
		out = append(out, wire.ReleasedLicense{ID: r.ID, ReleasedAt: r.ReleasedAt, Receipt: string(r.Receipt)})
	}
	return out
}
