package usher

import (
	"time"
	"unicode/utf8"
)

// Client identifies the application instance that holds a lease. ID is
// stable for one running instance: a retried checkout with the same ID and
// feature returns the lease it already holds instead of taking a second
// seat.
type Client struct {
	ID   string `json:"id"`
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
}

// Validate returns an EInvalid error for a missing or oversized field.
func (c Client) Validate() error {
	if c.ID == "" {
		return Errorf(EInvalid, "client.id is required: send a stable id for this application instance")
	}
	for _, f := range [...]struct{ name, v string }{{"client.id", c.ID}, {"client.user", c.User}, {"client.host", c.Host}} {
		if len(f.v) > 256 || !utf8.ValidString(f.v) {
			return Errorf(EInvalid, "%s must be valid UTF-8 of at most 256 bytes", f.name)
		}
	}
	if c.PID < 0 {
		return Errorf(EInvalid, "client.pid must not be negative")
	}
	return nil
}

// Lease is one seat of a feature held by a client. It lives until the
// client releases it, an admin kicks it, or no heartbeat arrives within the
// keep-alive timeout.
type Lease struct {
	ID            string    `json:"id"`
	Feature       string    `json:"feature"`
	Client        Client    `json:"client"`
	IssuedAt      time.Time `json:"issued_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// MaxWait is the longest a checkout may wait in line.
const MaxWait = time.Hour

// NewLeaseID returns a fresh random lease ID.
func NewLeaseID() string { return "ls_" + randomHex(12) }

// CheckoutRequest asks for one seat of Feature for Client.
type CheckoutRequest struct {
	Feature string
	Client  Client
	// Wait, if positive, is how long to wait in line for a seat when none
	// is free.
	Wait time.Duration
}

// Validate returns an EInvalid error for a malformed request.
func (r CheckoutRequest) Validate() error {
	if r.Feature == "" {
		return Errorf(EInvalid, "feature is required")
	}
	if err := ValidateFeatureName(r.Feature); err != nil {
		return err
	}
	if r.Wait < 0 || r.Wait > MaxWait {
		return Errorf(EInvalid, "wait must be between 0 and %s", MaxWait)
	}
	return r.Client.Validate()
}
