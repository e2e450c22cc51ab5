package wire

import (
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
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
	// BindServer and BindHost are the license's bindings, if any: the
	// server key, and the host fingerprint with how many of its traits
	// must match (see docs/trust.md).
	BindServer  string `json:"bind_server,omitempty"`
	BindHost    string `json:"bind_host,omitempty"`
	BindHostMin int    `json:"bind_host_min,omitempty"`
	// LicenseeSecret is the license's Licensee Secret mode, if any;
	// SecretBoundAt is set while a license in client mode is bound (the
	// binding outlives a switch to disabled). See docs/security.md.
	LicenseeSecret string     `json:"licensee_secret,omitempty"`
	SecretBoundAt  *time.Time `json:"secret_bound_at,omitempty"`
	// BindVolume is the data volume ID the license is bound to, if any.
	BindVolume string `json:"bind_volume,omitempty"`
	// RequireHardwareKey is the serial of the hardware key the license
	// serves with, if it requires one.
	RequireHardwareKey string `json:"require_hardware_key,omitempty"`
	LicenseModels
}

// GrantResponse is one feature line of a license.
type GrantResponse struct {
	Name      string     `json:"name"`
	Seats     int        `json:"seats"`
	Unlimited bool       `json:"unlimited"`
	StartsAt  *time.Time `json:"starts_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Users is "named" when the grant serves registered users only.
	Users string `json:"users,omitempty"`
	GrantModels
}

// LicensesResponse is the body of GET /v1/licenses: the licenses served,
// and the stored ones refused at start (a signature that no longer
// verifies, a license bound to another server or host), not served, and
// the ones this server released, which it never loads again.
type LicensesResponse struct {
	Licenses []LicenseResponse      `json:"licenses"`
	Refused  []usher.RefusedLicense `json:"refused"`
	Released []ReleasedLicense      `json:"released"`
}
