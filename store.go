package usher

import (
	"context"
	"time"
)

// Store keeps licenses and leases durably. Every method returns only once
// its change is on stable storage (or has failed and changed nothing), so
// the Ledger acknowledges nothing that a crash could take back.
// Implementations may batch concurrent calls into one commit.
//
// Heartbeats are not stored: after a restart every lease gets a fresh
// keep-alive window.
type Store interface {
	// Load returns everything stored, for startup.
	Load(ctx context.Context) (*Snapshot, error)
	// PutLicense stores a license's signed text under its ID.
	PutLicense(ctx context.Context, rec LicenseRecord) error
	// DeleteLicense removes a license; deleting a missing ID is no error.
	DeleteLicense(ctx context.Context, id string) error
	// PutLease stores a lease, replacing one with the same ID.
	PutLease(ctx context.Context, l Lease) error
	// DeleteLeases removes leases; missing IDs are no error.
	DeleteLeases(ctx context.Context, ids []string) error
	// PutBan stores a ban, replacing one with the same ID.
	PutBan(ctx context.Context, b Ban) error
	// DeleteBans removes bans; missing IDs are no error.
	DeleteBans(ctx context.Context, ids []string) error
	// PutSecretBinding stores a Licensee Secret binding, replacing the
	// one of the same license.
	PutSecretBinding(ctx context.Context, b SecretBinding) error
	// DeleteSecretBinding removes a license's binding; a missing one is
	// no error.
	DeleteSecretBinding(ctx context.Context, licenseID string) error
	// PutRegistrations stores registered users, replacing those with the
	// same ID.
	PutRegistrations(ctx context.Context, regs []Registration) error
	// DeleteRegistrations removes registrations; missing IDs are no error.
	DeleteRegistrations(ctx context.Context, ids []string) error
	// PutConsumption stores one accepted consumption of a metered feature.
	PutConsumption(ctx context.Context, c Consumption) error
	// DeleteConsumptions removes consumptions; missing IDs are no error.
	DeleteConsumptions(ctx context.Context, ids []string) error
	// PutLicenseState stores what a server keeps of a license beyond its
	// text, replacing the state with the same ID. It outlives the license:
	// DeleteLicense leaves it.
	PutLicenseState(ctx context.Context, st LicenseState) error
	// PutReleased records for good that a license was released, replacing
	// a record with the same ID.
	PutReleased(ctx context.Context, r ReleasedLicense) error
}

// LicenseRecord is a license as stored: its ID and the signed file. The
// signature is checked again on every load, so editing the store cannot
// raise a seat count.
type LicenseRecord struct {
	ID   string
	Text []byte
}

// Snapshot is the whole stored state.
type Snapshot struct {
	Licenses []LicenseRecord
	Leases   []Lease
	Bans     []Ban
	Released []ReleasedLicense
	// SecretBindings and Registrations say who may use the seats (see
	// docs/security.md).
	SecretBindings []SecretBinding
	Registrations  []Registration

	Consumptions  []Consumption
	LicenseStates []LicenseState
}

// ReleasedLicense records a license this server released (see
// Ledger.ReleaseLicense), and the receipt it signed, so that the license
// is never loaded here again.
type ReleasedLicense struct {
	ID         string    `json:"id"`
	ReleasedAt time.Time `json:"released_at"`
	Receipt    []byte    `json:"receipt"`
}
