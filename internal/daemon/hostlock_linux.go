package daemon

import (
	"io"
	"net"
)

// acquireHostLock takes the host-wide lock of an identity: an abstract
// Unix socket, which the kernel frees when the process dies, however it
// dies. Abstract names are per network namespace: containers that share
// the host's network share the lock.
func acquireHostLock(guid string) (io.Closer, error) {
	return net.Listen("unix", "@usher-"+guid)
}
