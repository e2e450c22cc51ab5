package wire

import (
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
)

// Paths of the lease, feature and health endpoints.
const (
	PathLeases   = "/v1/leases"
	PathFeatures = "/v1/features"
	PathQueue    = "/v1/queue"
	PathHealth   = "/healthz"
)

// LeasePath is the path of one lease: DELETE releases it.
func LeasePath(id string) string { return PathLeases + "/" + url.PathEscape(id) }

// HeartbeatPath is the path that renews a lease.
func HeartbeatPath(id string) string { return LeasePath(id) + "/heartbeat" }

// CheckoutRequest is the body of POST /v1/leases.
type CheckoutRequest struct {
	Feature string       `json:"feature"`
	Client  usher.Client `json:"client"`
	Wait    string       `json:"wait,omitempty"`
	// Count, Version and Borrow are the licensing models' options (see
	// docs/licensing-models.md): seats at once, the lowest grant version,
	// and a borrow duration like "72h".
	Count   int    `json:"count,omitempty"`
	Version string `json:"version,omitempty"`
	Borrow  string `json:"borrow,omitempty"`
	// Nonce, if sent, is signed back in the answer's token.
	Nonce string `json:"nonce,omitempty"`
}

// HeartbeatRequest is the optional body of a heartbeat.
type HeartbeatRequest struct {
	// Nonce, if sent, is signed back in the answer's token.
	Nonce string `json:"nonce,omitempty"`
}

// LeaseResponse is a lease as the API returns it.
type LeaseResponse struct {
	usher.Lease
	HeartbeatInterval string `json:"heartbeat_interval"`
	LeaseProof
	// BorrowToken is set for a borrowed lease: the server's signed word
	// that the client may run without it until borrowed_until.
	BorrowToken string `json:"borrow_token,omitempty"`
}

// HeartbeatResponse is the body of a successful heartbeat.
type HeartbeatResponse struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
	LeaseProof
}

// LeaseProof is what lets a client check that a licensed server holds
// its lease: Token, signed by the server's session key, and
// SessionCert, by which the server's identity key certifies that key
// (see usher.Token, usher.SessionCert and docs/trust.md).
type LeaseProof struct {
	Token       string `json:"token,omitempty"`
	SessionCert string `json:"session_cert,omitempty"`
}

// FeaturesResponse is the body of GET /v1/features.
type FeaturesResponse struct {
	Features []usher.FeatureStatus `json:"features"`
}

// LeasesResponse is the body of GET /v1/leases.
type LeasesResponse struct {
	Leases []usher.Lease `json:"leases"`
}

// QueueResponse is the body of GET /v1/queue.
type QueueResponse struct {
	Waiters []usher.Waiter `json:"waiters"`
}

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status string `json:"status"`
	// Node is the name of the cluster node that answered; empty for a
	// single server.
	Node string `json:"node,omitempty"`
}
