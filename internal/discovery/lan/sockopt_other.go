//go:build !unix

package lan

import (
	"net"
	"syscall"
)

// shareSocket does nothing here: one listener per host hears
// announcements, and IPv6 multicast ones are not heard.
func shareSocket(string, func() ([]net.Interface, error)) func(string, string, syscall.RawConn) error {
	return nil
}
