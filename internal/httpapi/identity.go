package httpapi

import (
	"context"
	"net/http"

	usher "github.com/usher-lm/usher"
)

// ServerIdentity is what GET /v1/server answers, without a credential: the
// identity a license can be bound to. ServerKey is the Ed25519 public key
// in standard base64 (usher.FormatServerKey), the form --bind-server takes.
type ServerIdentity struct {
	ServerKey  string `json:"server_key"`
	GUID       string `json:"guid"`
	HardwareID string `json:"hardware_id"`
	Version    string `json:"version"`
}

func (s *Server) handleServer(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.server)
}

// Server returns the identity of the server (GET /v1/server).
func (c *Client) Server(ctx context.Context) (ServerIdentity, error) {
	var out ServerIdentity
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/server", nil, &out)
	return out, err
}

// LicenseList is what GET /v1/licenses answers: the licenses served, and
// the stored ones refused at start (a broken signature, a license bound to
// another server or host), which are not served.
type LicenseList struct {
	Licenses []LicenseResponse      `json:"licenses"`
	Refused  []usher.RefusedLicense `json:"refused"`
}

// LicenseList lists the loaded licenses and the refused ones (monitor).
func (c *Client) LicenseList(ctx context.Context) (LicenseList, error) {
	var out LicenseList
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/licenses", nil, &out)
	return out, err
}
