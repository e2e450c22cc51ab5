//go:build unix

package lan

import (
	"net"
	"syscall"
)

// shareSocket lets every listener on this host bind the announcement port
// (broadcasts and multicasts reach them all), and joins lan.Group on
// every multicast interface of an IPv6 socket.
func shareSocket(network string, interfaces func() ([]net.Interface, error)) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var err error
		ctl := rc.Control(func(fd uintptr) {
			if err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
				return
			}
			if network != "udp6" {
				return
			}
			ifs, _ := interfaces()
			for _, ifi := range ifs {
				if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
					continue
				}
				mreq := &syscall.IPv6Mreq{Interface: uint32(ifi.Index)}
				copy(mreq.Multiaddr[:], Group.To16())
				syscall.SetsockoptIPv6Mreq(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_JOIN_GROUP, mreq) // an interface without IPv6 is skipped
			}
		})
		if ctl != nil {
			return ctl
		}
		return err
	}
}
