package wire

import (
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
)

// PathUnbind is where a vendor's unbind file is loaded (POST, the file as
// the body): it lifts a license's Licensee Secret binding.
const PathUnbind = "/v1/licenses/unbind"

// FeatureUsersPath is the path of the users registered for a feature:
// GET lists them, POST registers, DELETE unregisters.
func FeatureUsersPath(feature string) string {
	return PathFeatures + "/" + url.PathEscape(feature) + "/users"
}

// FeatureUsersRequest is the body of POST and DELETE
// /v1/features/{name}/users.
type FeatureUsersRequest struct {
	Users []string `json:"users"`
}

// FeatureUsersResponse is the body of GET /v1/features/{name}/users, and
// of POST and DELETE, which list the registrations they made or removed.
type FeatureUsersResponse struct {
	Feature string               `json:"feature"`
	Users   []usher.Registration `json:"users"`
}

// UnbindResponse is the body of POST /v1/licenses/unbind: the binding
// lifted (its hash is not shown).
type UnbindResponse struct {
	LicenseID string    `json:"license_id"`
	BoundAt   time.Time `json:"bound_at"`
}
