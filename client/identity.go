package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strings"

	usher "github.com/usher-lm/usher"
)

// machineIDFiles hold a stable per-machine id on Linux and other systemd
// or D-Bus systems.
var machineIDFiles = [...]string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// identity returns who this client is to the server. The default ID hashes
// the machine id, the OS user and the process id: stable for the life of
// the process, so a retried checkout finds the lease it already holds, and
// distinct across processes and machines.
func identity(opts Options) usher.Client {
	id := usher.Client{ID: opts.ClientID, User: opts.User, Host: opts.Host, PID: os.Getpid()}
	if id.User == "" {
		if u, err := user.Current(); err == nil {
			id.User = u.Username
		}
	}
	if id.Host == "" {
		id.Host, _ = os.Hostname()
	}
	if id.ID == "" {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", machineID(id.Host), id.User, id.PID))
		id.ID = "c_" + hex.EncodeToString(sum[:12])
	}
	return id
}

// machineID returns the machine id, or the host name where there is none.
func machineID(host string) string {
	for _, p := range machineIDFiles {
		if b, err := os.ReadFile(p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return "host:" + host
}
