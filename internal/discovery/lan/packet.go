// Package lan is the wire format of Usher's discovery on the LAN and the
// searcher that uses it: a request broadcast (IPv4) and multicast (IPv6)
// on the discovery port, the replies of the servers that hear it, and the
// signed announcements servers send when they start, stop or change what
// they serve. It uses the standard library and package usher only, so that
// the SDK may embed it. The server's side is package discovery.
package lan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
)

// DefaultPort is the UDP port of discovery, the same number as the API's.
const DefaultPort = 7420

// Group is the IPv6 link-local multicast group servers join on every
// interface. It is not in IANA's registry of link-local groups; its group
// ID ends in the port number.
var Group = net.ParseIP("ff02::7420:5553")

// Sizes that keep discovery from being an amplifier: a server ignores a
// request shorter than MinRequestSize and never answers with more than
// AmplificationFactor times the request's size.
const (
	MinRequestSize      = 512
	AmplificationFactor = 2
	// MaxPacketSize is the largest datagram either side reads.
	MaxPacketSize = 8192
	// RequestSize is how large Find pads its requests: replies up to
	// twice that fit in one Ethernet frame pair.
	RequestSize = 1024
)

// The first bytes of every datagram: a magic, a version and the kind.
const (
	magic            = "USHER1"
	kindRequest      = 'Q'
	kindReply        = 'R'
	kindAnnouncement = 'A'
)

// Request asks the servers that hear it to answer. Pad fills it to
// RequestSize so that the reply may be as large.
type Request struct {
	Nonce   string `json:"nonce"`
	Feature string `json:"feature,omitempty"` // listed first in replies, so truncation keeps it
	Pad     string `json:"pad,omitempty"`
}

// Server is one server's reply: who it is and where its API is. A URL with
// no host ("http://:7420") means the address the reply came from.
type Server struct {
	Nonce          string   `json:"nonce,omitempty"`
	GUID           string   `json:"guid"`
	Name           string   `json:"name"`
	Version        string   `json:"version"`
	URLs           []string `json:"urls"`
	TLSFingerprint string   `json:"tls_fingerprint,omitempty"`
	Cluster        string   `json:"cluster,omitempty"`
	// Features are the names of the features the server serves; none
	// when it requires a client password.
	Features []string `json:"features,omitempty"`
	// Truncated says features were left out to keep the reply within
	// AmplificationFactor times the request.
	Truncated bool `json:"truncated,omitempty"`
	// From is the address the reply came from, or "mdns"; set by the
	// searcher, never sent.
	From string `json:"from,omitempty"`
}

// Serves reports whether s lists feature.
func (s *Server) Serves(feature string) bool {
	for _, f := range s.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// EncodeRequest returns the datagram of r, padded to size bytes.
func EncodeRequest(r Request, size int) []byte {
	r.Pad = ""
	b := encode(kindRequest, r)
	if n := size - len(b) - len(`,"pad":""`); n > 0 {
		r.Pad = string(bytes.Repeat([]byte{'.'}, n))
		b = encode(kindRequest, r)
	}
	return b
}

// DecodeRequest reads a request datagram. It refuses one shorter than
// MinRequestSize.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) < MinRequestSize {
		return r, fmt.Errorf("discovery request of %d bytes: at least %d are needed", len(b), MinRequestSize)
	}
	return r, decode(b, kindRequest, &r)
}

// EncodeReply returns the datagram of s no larger than max bytes: it drops
// features from the end (setting Truncated) until it fits, and returns
// nil if even none fit.
func EncodeReply(s Server, max int) []byte {
	s.From = ""
	for {
		b := encode(kindReply, s)
		if len(b) <= max {
			return b
		}
		if len(s.Features) == 0 {
			return nil
		}
		s.Features, s.Truncated = s.Features[:len(s.Features)-1], true
	}
}

// DecodeReply reads a reply datagram.
func DecodeReply(b []byte) (Server, error) {
	var s Server
	return s, decode(b, kindReply, &s)
}

func encode(kind byte, v any) []byte {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings always marshal
	}
	return append(append([]byte(magic), kind), body...)
}

func decode(b []byte, kind byte, v any) error {
	if !bytes.HasPrefix(b, []byte(magic)) || len(b) <= len(magic) {
		return fmt.Errorf("not an Usher discovery datagram")
	}
	if b[len(magic)] != kind {
		return fmt.Errorf("discovery datagram of kind %q, not %q", b[len(magic)], kind)
	}
	if err := json.Unmarshal(b[len(magic)+1:], v); err != nil {
		return fmt.Errorf("malformed discovery datagram: %v", err)
	}
	return nil
}

// Kind returns the kind byte of a datagram, or 0 if it is not one of ours.
func Kind(b []byte) byte {
	if len(b) <= len(magic) || !bytes.HasPrefix(b, []byte(magic)) {
		return 0
	}
	return b[len(magic)]
}
