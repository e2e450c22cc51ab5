package wire

import (
	"time"

	usher "github.com/usher-lm/usher"
)

// Paths of metered features and license renewals.
const (
	// PathConsumptions spends units (POST) and reports them per client
	// (GET).
	PathConsumptions = "/v1/consumptions"
	// PathRenewals loads a signed renewal file (POST).
	PathRenewals = "/v1/renewals"
)

// ConsumeRequest is the body of POST /v1/consumptions. A request with an
// ID is counted once however often it is sent.
type ConsumeRequest struct {
	Feature string       `json:"feature"`
	Amount  int64        `json:"amount"`
	Client  usher.Client `json:"client"`
	ID      string       `json:"id,omitempty"`
}

// ConsumeResponse is the body of a successful POST /v1/consumptions.
type ConsumeResponse = usher.ConsumeResult

// ConsumptionsResponse is the body of GET /v1/consumptions: the units
// each client spent of each metered feature in its current period.
type ConsumptionsResponse struct {
	Consumptions []usher.ClientConsumption `json:"consumptions"`
}

// RenewalResponse is the body of a successful POST /v1/renewals.
type RenewalResponse struct {
	LicenseID       string    `json:"license_id"`
	RenewedAt       time.Time `json:"renewed_at"`
	Until           time.Time `json:"until"`
	TechnicalExpiry time.Time `json:"technical_expiry"`
}

// GrantModels are the licensing-model attributes of a grant, in
// GrantResponse; empty for a plain grant.
type GrantModels struct {
	Consumption      int64  `json:"consumption,omitempty"`
	Period           string `json:"period,omitempty"`
	Overage          int64  `json:"overage,omitempty"`
	OverageUnlimited bool   `json:"overage_unlimited,omitempty"`
	Subscription     string `json:"subscription,omitempty"` // e.g. "30d"
	Group            string `json:"group,omitempty"`
	RenewEvery       string `json:"renew_every,omitempty"`
}

// GrantModelsOf returns the model attributes of g.
func GrantModelsOf(g usher.Grant) GrantModels {
	m := GrantModels{Consumption: g.Meter.Consumption, Period: g.Meter.Period, Overage: g.Meter.Overage,
		OverageUnlimited: g.Meter.OverageUnlimited, Group: g.Subscription.Group}
	if g.Subscription.Length > 0 {
		m.Subscription = usher.FormatDays(g.Subscription.Length)
	}
	if g.RenewEvery > 0 {
		m.RenewEvery = usher.FormatDays(g.RenewEvery)
	}
	return m
}

// LicenseModels are what a server keeps of a license beyond its text, in
// LicenseResponse.
type LicenseModels struct {
	// ActivatedAt is when the license was first added to this server (or
	// cluster); null for licenses added before activations were kept.
	ActivatedAt *time.Time `json:"activated_at"`
	// RenewalURL and TechnicalExpiry are set for checkpoint licenses: the
	// renewal file's URL, and when their features stop unless renewed.
	RenewalURL      string     `json:"renewal_url,omitempty"`
	TechnicalExpiry *time.Time `json:"technical_expiry,omitempty"`
}
