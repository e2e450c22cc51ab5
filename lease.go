package usher

import (
	"strings"
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
	// Secret is the Licensee Secret a checkout presents (client.secret on
	// the wire). Checkout moves it into CheckoutRequest.Secret before it
	// keeps anything, so no lease, waiter or event ever carries it.
	Secret string `json:"secret,omitempty"`
}

// Validate returns an EInvalid error for a missing or oversized field.
func (c Client) Validate() error {
	if c.ID == "" {
		return Errorf(EInvalid, "client.id is required: send a stable id for this application instance")
	}
	for _, f := range [...]struct{ name, v string }{{"client.id", c.ID}, {"client.user", c.User}, {"client.host", c.Host}, {"client.secret", c.Secret}} {
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
	// Owner is who may renew and release the lease, and get it back by
	// its client ID. Stored with the lease.
	Owner Owner `json:"owner,omitzero"`
	// Addr is the network address the checkout came from, as the
	// transport saw it; "" when there was none. Stored with the lease.
	Addr string `json:"address,omitempty"`
	// License names the license that grants the feature, as of the
	// checkout or the last heartbeat (see the lease token); not stored.
	License string `json:"-"`
	// LeaseTerms are what licensing models add; the zero value is a plain
	// one-seat lease. Stored with the lease.
	LeaseTerms
}

// Owner is who holds a lease: the credential that took it, or, when the
// credential is shared by many (or there is none), the network address it
// came from. The transport decides what a caller's Owner is; the ledger
// only compares. A lease stored before leases had owners has the zero
// Owner: the first caller that renews, releases or checks it out again
// becomes its owner.
type Owner struct {
	Kind string // what ID names, like "token", "user" or "address"
	ID   string
}

// String returns o as "kind:id", the form stores keep, or "" for the zero
// Owner.
func (o Owner) String() string {
	if o == (Owner{}) {
		return ""
	}
	return o.Kind + ":" + o.ID
}

// ParseOwner returns the Owner that String wrote.
func ParseOwner(s string) Owner {
	kind, id, _ := strings.Cut(s, ":")
	return Owner{Kind: kind, ID: id}
}

// MarshalText writes o as String does.
func (o Owner) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (o *Owner) UnmarshalText(b []byte) error {
	*o = ParseOwner(string(b))
	return nil
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
	// Owner is who the lease will belong to. A lease the client already
	// holds is returned only to the same Owner.
	Owner Owner
	// Addr is the network address the request came from. The per-address
	// limits count leases and waiters by it; "" is not counted.
	Addr string
	// Secret is the Licensee Secret presented, if any; see docs/security.md.
	// Only its hash is ever kept.
	Secret string
	// Count is how many seats to take at once, all or none; 0 means 1.
	Count int
	// Version, if set, is the lowest grant version that may serve the
	// checkout (a dotted number, see ParseVersion).
	Version string
	// Borrow, if positive, borrows the seat for that long: it needs no
	// heartbeat until then (see docs/licensing-models.md).
	Borrow time.Duration
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
	if err := r.validateTerms(); err != nil {
		return err
	}
	return r.Client.Validate()
}
