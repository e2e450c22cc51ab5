package client

import (
	"fmt"
	"time"
)

// EventType says what a client did on its own.
type EventType string

// Event types, as Options.OnEvent receives them.
const (
	// EventCheckedOut: a Checkout was granted LeaseID.
	EventCheckedOut EventType = "checked_out"
	// EventUnreachable: a request to Server failed with Err; the client
	// retries, on the next server if there is one.
	EventUnreachable EventType = "server_unreachable"
	// EventReconnected: Server answers again after failed requests.
	EventReconnected EventType = "reconnected"
	// EventFailover: the client now uses Server, because the one before it
	// did not answer.
	EventFailover EventType = "failover"
	// EventLeaseGone: the server no longer holds LeaseID (it was reclaimed
	// or kicked, or the server is another one); the client checks out
	// again.
	EventLeaseGone EventType = "lease_gone"
	// EventReacquired: the client checked out Feature again, as LeaseID.
	EventReacquired EventType = "reacquired"
	// EventLost: the seat of Feature is lost for good, for the reason in
	// Err; the lease's Done channel closes right after it is reported.
	EventLost EventType = "lost"
	// EventReleased: LeaseID was given back.
	EventReleased EventType = "released"
)

// Event is one thing the client did on its own. Fields that do not apply
// to a type are empty.
type Event struct {
	Type    EventType
	Time    time.Time
	Feature string
	LeaseID string
	Server  string
	Err     error
}

// with returns a copy of the event with a type, a server and an error.
func (e Event) with(typ EventType, server string, err error) Event {
	e.Type, e.Server, e.Err = typ, server, err
	return e
}

// String describes the event in a line for people.
func (e Event) String() string {
	switch e.Type {
	case EventCheckedOut:
		return fmt.Sprintf("checked out %s as lease %s from %s", e.Feature, e.LeaseID, e.Server)
	case EventUnreachable:
		return fmt.Sprintf("server unreachable, retrying: %v", e.Err)
	case EventReconnected:
		return fmt.Sprintf("server %s answers again", e.Server)
	case EventFailover:
		return fmt.Sprintf("failed over to server %s", e.Server)
	case EventLeaseGone:
		return fmt.Sprintf("lease %s of %s is gone (reclaimed or kicked), checking out again", e.LeaseID, e.Feature)
	case EventReacquired:
		return fmt.Sprintf("re-acquired a seat of %s as lease %s from %s", e.Feature, e.LeaseID, e.Server)
	case EventLost:
		return fmt.Sprintf("lost the seat of %s: %v", e.Feature, e.Err)
	case EventReleased:
		return fmt.Sprintf("released lease %s of %s", e.LeaseID, e.Feature)
	}
	return fmt.Sprintf("%s %s %s", e.Type, e.Feature, e.LeaseID)
}
