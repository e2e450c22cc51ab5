package usher

import "time"

// Event types emitted by the Ledger.
const (
	EventLeaseGranted   = "lease_granted"
	EventLeaseReleased  = "lease_released"
	EventLeaseExpired   = "lease_expired"
	EventLeaseKicked    = "lease_kicked"
	EventCheckoutDenied = "checkout_denied"
	EventLicenseAdded   = "license_added"
	EventLicenseRemoved = "license_removed"
	// EventSecretBound: a license in Licensee Secret client mode was bound
	// to the first secret a checkout presented (never the secret itself).
	EventSecretBound = "licensee_secret_bound"
	// EventSecretUnbound: the vendor's unbind file lifted a binding.
	EventSecretUnbound = "licensee_secret_unbound"
)

// ReasonLingering is the reason of a lease_released event whose seat
// lingers with its client: the seat is held until the lease_expired (or
// lease_kicked) event that ends the linger.
const ReasonLingering = "lingering"

// Event is one state change of the ledger. Fields that do not apply to a
// type are empty.
type Event struct {
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Feature   string    `json:"feature,omitempty"`
	LeaseID   string    `json:"lease_id,omitempty"`
	Client    Client    `json:"client,omitzero"`
	LicenseID string    `json:"license_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// WaitedMS is, for a lease_granted or checkout_denied event of a
	// checkout that waited in line, how long it waited, in milliseconds;
	// zero for one decided at once.
	WaitedMS int64 `json:"waited_ms,omitempty"`
	// InUse is, for a lease_granted event, how many seats of the feature
	// were in use right after the grant: the usage history takes its peaks
	// from it, since events reach observers in no strict order. Not part
	// of the stored event.
	InUse int `json:"-"`
}

// Observer receives the ledger's events after each change is durable. It
// is called outside the ledger's lock and must not block for long.
type Observer interface {
	Observe(Event)
}

func (l *Ledger) emit(ev Event) {
	if l.observer == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	l.observer.Observe(ev)
}

func (l *Ledger) emitLease(typ string, ls Lease) {
	l.emit(Event{Type: typ, Feature: ls.Feature, LeaseID: ls.ID, Client: ls.Client})
}
