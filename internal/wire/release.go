package wire

import "time"

// ReleasePath is where a license is released: POST gives it up for good
// and answers a ReleaseResponse.
func ReleasePath(id string) string { return LicensePath(id) + "/release" }

// ReleaseResponse is the answer to a release: the license given up, and
// the receipt the server signed for the vendor.
type ReleaseResponse struct {
	License LicenseResponse `json:"license"`
	Receipt string          `json:"receipt"`
}

// ReleasedLicense is a license the server released, as GET /v1/licenses
// lists it.
type ReleasedLicense struct {
	ID         string    `json:"id"`
	ReleasedAt time.Time `json:"released_at"`
	Receipt    string    `json:"receipt"`
}
