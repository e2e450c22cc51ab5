package usher

import "context"

// IdentityLock keeps one server at a time serving the licenses bound to a
// server identity. A copy of a data directory carries the identity with
// it; each lock sees the copies within its reach: the host, a directory
// shared by containers, an etcd cluster, and (with discovery) the LAN.
type IdentityLock interface {
	// Lock takes the lock of the identity guid if no other server holds
	// it, without waiting.
	//
	// Errors: ELicenseInUseElsewhere when another server holds it (the
	// message says where), or any error that keeps the lock from being
	// taken (the identity then counts as held elsewhere).
	Lock(ctx context.Context, guid string) (HeldIdentity, error)
}

// HeldIdentity is an identity lock this server holds.
type HeldIdentity interface {
	// Lost is closed when the lock is lost while held (an etcd session
	// that expired); nil for a lock that cannot be lost.
	Lost() <-chan struct{}
	// Release gives the lock up. It is safe to call twice.
	Release() error
}
