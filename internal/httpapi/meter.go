package httpapi

import (
	"errors"
	"io"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/wire"
)

func (s *Server) meterRoutes() {
	s.mux.HandleFunc("POST "+wire.PathConsumptions, s.require(auth.Use, s.handleConsume))
	s.mux.HandleFunc("GET "+wire.PathConsumptions, s.monitor(s.handleConsumptions))
	s.mux.HandleFunc("POST "+wire.PathRenewals, s.admin(s.handleRenew))
}

func (s *Server) handleConsume(w http.ResponseWriter, r *http.Request) {
	var body wire.ConsumeRequest
	if err := decodeJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.ledger().Consume(r.Context(), usher.ConsumeRequest{Feature: body.Feature, Amount: body.Amount, Client: body.Client, ID: body.ID})
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleConsumptions(w http.ResponseWriter, r *http.Request) {
	out := s.ledger().ConsumptionReport()
	if out == nil {
		out = []usher.ClientConsumption{}
	}
	writeJSON(w, http.StatusOK, wire.ConsumptionsResponse{Consumptions: out})
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = usher.Errorf(usher.ELicenseInvalid, "renewal file is larger than %d bytes: this is not an Usher renewal", tooBig.Limit)
		}
		s.error(w, r, err)
		return
	}
	st, err := s.ledger().RenewLicense(r.Context(), text)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := wire.RenewalResponse{LicenseID: st.ID, RenewedAt: st.RenewedAt, Until: st.Until}
	for _, c := range s.ledger().Checkpoints() {
		if c.LicenseID == st.ID {
			out.TechnicalExpiry = c.TechnicalExpiry
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// withModels adds what the ledger keeps of a license beyond its text.
func (s *Server) withModels(out wire.LicenseResponse) wire.LicenseResponse {
	if at, ok := s.ledger().LicenseActivation(out.ID); ok {
		out.ActivatedAt = &at
	}
	for _, c := range s.ledger().Checkpoints() {
		if c.LicenseID == out.ID {
			end := c.TechnicalExpiry
			out.RenewalURL, out.TechnicalExpiry = c.URL, &end
		}
	}
	return out
}
