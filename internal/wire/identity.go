package wire

// PathServer is where a server tells its identity, without a credential.
const PathServer = "/v1/server"

// ServerIdentity is the body of GET /v1/server: the identity a license can
// be bound to. ServerKey is the Ed25519 public key in standard base64
// (usher.FormatServerKey), the form usher vendor issue --bind-server takes.
type ServerIdentity struct {
	ServerKey  string `json:"server_key"`
	GUID       string `json:"guid"`
	HardwareID string `json:"hardware_id"`
	Version    string `json:"version"`
}
