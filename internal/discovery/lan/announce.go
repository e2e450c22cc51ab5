package lan

import (
	"encoding/json"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
)

// Events an announcement tells of.
const (
	EventStart          = "start"
	EventStop           = "stop"
	EventAlive          = "alive" // the periodic announcement
	EventLicenseAdded   = "license_added"
	EventLicenseRemoved = "license_removed"
	EventKeyInserted    = "hardware_key_inserted"
	EventKeyRemoved     = "hardware_key_removed"
)

// Announcement is what a server tells the LAN when it starts, stops or
// changes what it serves, and every announce_interval in between.
type Announcement struct {
	GUID string `json:"guid"`
	// Instance is random for each run of a server; Started is when it
	// started. Two servers with one GUID tell each other apart by them.
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
	Sent     time.Time `json:"sent"`
	Seq      uint64    `json:"seq"`
	Event    string    `json:"event"`
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	URLs     []string  `json:"urls"`
	// Cluster is the cluster name of a server in cluster mode: the nodes
	// of a cluster share one identity, and are not copies of each other.
	Cluster string `json:"cluster,omitempty"`
	// Licenses are the IDs of the licenses bound to this server's
	// identity that it serves.
	Licenses []string `json:"licenses,omitempty"`
	// IntervalMS is the sender's announce_interval in milliseconds.
	IntervalMS int64 `json:"interval_ms"`
}

// Interval returns the sender's announce_interval.
func (a *Announcement) Interval() time.Duration {
	return time.Duration(a.IntervalMS) * time.Millisecond
}

// Wins reports whether a keeps serving when b announces the same
// identity: the one that started first wins, and between two that started
// in the same millisecond, the smaller instance ID.
func (a *Announcement) Wins(b *Announcement) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return a.Instance < b.Instance
}

// signedAnnouncement is the datagram's body: the announcement, the
// session certificate and the session key's signature of the body.
type signedAnnouncement struct {
	Body []byte `json:"body"`
	Cert string `json:"cert"`
	Sig  []byte `json:"sig"`
}

// EncodeAnnouncement returns the datagram of a signed with session.
func EncodeAnnouncement(a Announcement, session *usher.Session) []byte {
	body, err := json.Marshal(a)
	if err != nil {
		panic(err) // plain struct
	}
	return encode(kindAnnouncement, signedAnnouncement{Body: body, Cert: session.CertText(), Sig: session.SignAnnouncement(body)})
}

// DecodeAnnouncement reads an announcement datagram. It fails if the
// datagram is not one; verr is nil if the announcement is signed by a
// session of the server whose GUID it carries, valid at now.
func DecodeAnnouncement(b []byte, now time.Time) (a Announcement, verr, err error) {
	var sa signedAnnouncement
	if err := decode(b, kindAnnouncement, &sa); err != nil {
		return a, nil, err
	}
	if err := json.Unmarshal(sa.Body, &a); err != nil {
		return a, nil, fmt.Errorf("malformed announcement: %v", err)
	}
	cert, verr := usher.VerifyAnnouncement(sa.Cert, sa.Body, sa.Sig, now)
	if verr == nil && usher.ServerGUID(cert.ServerKey) != a.GUID {
		verr = usher.Errorf(usher.EUntrustedServer, "the announcement names server %s and is signed by server %s", a.GUID, usher.ServerGUID(cert.ServerKey))
	}
	return a, verr, nil
}
