package auth

import (
	"fmt"

	usher "github.com/usher-lm/usher"
)

// Role is what a user or API token may do.
type Role string

// Roles. Admin may do everything; Monitor may only read; Client may only
// check out, heartbeat and release.
const (
	RoleAdmin   Role = "admin"
	RoleMonitor Role = "monitor"
	RoleClient  Role = "client"
)

// ParseRole returns the role named s, or an EInvalid error.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleMonitor, RoleClient:
		return r, nil
	}
	return "", usher.Errorf(usher.EInvalid, "role %q does not exist: use admin, monitor or client", s)
}

// Access is what a route needs. The levels are not a ladder: Client and
// Monitor are disjoint, and Admin has both.
type Access int

// Access levels of the API's routes.
const (
	// Public routes answer anyone: health and login.
	Public Access = iota
	// Use is checking out, heartbeating and releasing. Open to anyone
	// unless the server requires a client credential.
	Use
	// Read is reading feature availability: what clients and monitors
	// both need. Open to anyone unless clients need a credential.
	Read
	// Monitor is reading the server's state: leases, queue, events, usage,
	// metrics.
	Monitor
	// Admin is changing the server: licenses, kicks, users, tokens.
	Admin
)

// String names the access level in messages.
func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Use:
		return "client"
	case Read:
		return "read"
	case Monitor:
		return "monitor"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("access(%d)", int(a))
}

// Allows reports whether role r grants access a.
func (r Role) Allows(a Access) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleMonitor:
		return a == Public || a == Read || a == Monitor
	case RoleClient:
		return a == Public || a == Use || a == Read
	}
	return a == Public
}

// Principal is who made a request, as its credential says.
type Principal struct {
	Name string // user name, token name, or a fixed name for the others
	Role Role
	Kind string // one of the Kind constants
	ID   string // the API token's ID, for KindToken: unlike its name, never reused
}

// Kinds of credential.
const (
	KindUser           = "user"            // a JWT from POST /v1/auth/login
	KindToken          = "token"           // an API token
	KindAdminToken     = "admin_token"     // the static token in the data directory
	KindClientPassword = "client_password" // the shared client password
)
