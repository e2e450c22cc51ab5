package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"sort"
	"strings"
)

// HardwareID returns a stable identifier of this machine: a hash of the
// OS machine id, or, where there is none, of the host name and the
// hardware addresses of the network interfaces. The raw identifiers are
// never shown.
func HardwareID() string {
	src := machineID()
	if src == "" {
		host, _ := os.Hostname()
		src = host + "|" + strings.Join(macs(), ",")
	}
	sum := sha256.Sum256([]byte("usher-hardware-id|" + src))
	return hex.EncodeToString(sum[:10])
}

func machineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if data, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(data)); id != "" {
				return id
			}
		}
	}
	return ""
}

func macs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) > 0 {
			out = append(out, i.HardwareAddr.String())
		}
	}
	sort.Strings(out)
	return out
}
