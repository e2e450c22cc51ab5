package daemon

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The connection timeout can change at runtime, but http.Server reads its
// IdleTimeout field without a lock. So the servers run without one, and
// idleConn applies the current timeout itself: when the server parks a
// keep-alive connection it clears the read deadline, and idleConn turns
// that into now + the timeout until the next request starts.

// idleListener wraps accepted connections in idleConn.
type idleListener struct {
	net.Listener
	timeout *atomic.Int64 // time.Duration
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, timeout: l.timeout}, nil
}

type idleConn struct {
	net.Conn
	timeout *atomic.Int64
	idle    atomic.Bool // parked between requests
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	if c.idle.Load() {
		if !t.IsZero() {
			c.idle.Store(false) // the next request has begun
		} else if d := time.Duration(c.timeout.Load()); d > 0 {
			t = time.Now().Add(d)
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// trackIdle is the servers' ConnState hook: it marks connections parked
// between requests.
func trackIdle(c net.Conn, state http.ConnState) {
	if state != http.StateIdle {
		return
	}
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = nc.NetConn()
	}
	if ic, ok := c.(*idleConn); ok {
		ic.idle.Store(true)
	}
}
