package wire

import (
	"net/url"
	"time"
)

// PathLicenses is where licenses are loaded (POST) and listed (GET).
const PathLicenses = "/v1/licenses"

// LicensePath is the path of one license: DELETE unloads it.
func LicensePath(id string) string { return PathLicenses + "/" + url.PathEscape(id) }

// LicenseResponse is a license as the API returns it.
type LicenseResponse struct {
	ID       string          `json:"id"`
	Licensee string          `json:"licensee"`
	IssuedAt time.Time       `json:"issued_at"`
	KeyID    string          `json:"key_id"`
	Features []GrantResponse `json:"features"`
}

// GrantResponse is one feature line of a license.
type GrantResponse struct {
	Name      string     `json:"name"`
	Seats     int        `json:"seats"`
	Unlimited bool       `json:"unlimited"`
	StartsAt  *time.Time `json:"starts_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// LicensesResponse is the body of GET /v1/licenses.
type LicensesResponse struct {
	Licenses []LicenseResponse `json:"licenses"`
}
