package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Connection floods and slow bodies. Every connection costs a file
// descriptor, a goroutine and buffers, so the listeners count them: at
// most max_connections in all, kept below the open-file limit, and at
// most max_connections_per_address from one client address (an IPv6
// client's /64). A connection over either cap is closed as it is
// accepted, before anything is read from it. A request's body must then
// arrive within read_timeout of its headers (read_header_timeout bounds
// those).

// fdReserve is how many open files the server keeps for itself (the
// store, the logs, etcd) below the open-file limit.
const fdReserve = 128

// connLimits counts the open connections of every listener.
type connLimits struct {
	max, perAddr int
	logger       *slog.Logger

	mu      sync.Mutex
	total   int
	byAddr  map[netip.Addr]int
	refused int       // since the last log line
	logged  time.Time // when refusals were last logged
}

// newConnLimits returns the caps of cfg, with max_connections lowered
// below the open-file limit, which it first raises as far as it may.
func newConnLimits(cfg Config, logger *slog.Logger) *connLimits {
	max := cfg.MaxConnections
	if max <= 0 {
		max = DefaultMaxConnections
	}
	if files, err := raiseFileLimit(); err != nil {
		logger.Warn("could not raise the open-file limit", "err", err)
	} else if files > 0 {
		room := int(min(files, 1<<30)) - fdReserve
		if room < fdReserve {
			room = int(files) / 2
		}
		logger.Info("open-file limit", "files", files, "max_connections", min(max, room))
		if room < max {
			logger.Warn("max_connections is above what the open-file limit allows: lowered; raise the limit (ulimit -n, LimitNOFILE in systemd) to keep it",
				"max_connections", max, "lowered_to", room, "open_files", files)
			max = room
		}
	}
	per := cfg.MaxConnectionsPerAddress
	if per <= 0 {
		per = DefaultMaxConnectionsPerAddress
	}
	return &connLimits{max: max, perAddr: per, logger: logger, byAddr: map[netip.Addr]int{}}
}

// addrKey is the address whose connections count together: the client's
// IPv4 address, or the /64 of an IPv6 one, which one client usually has
// whole.
func addrKey(a net.Addr) netip.Addr {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := tcp.AddrPort().Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// admit counts a new connection from key, or reports that a cap refuses it.
func (l *connLimits) admit(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byAddr[key] >= l.perAddr {
		l.refusedLocked(key)
		return false
	}
	l.total++
	l.byAddr[key]++
	return true
}

// refusedLocked logs refusals, at most once every ten seconds.
func (l *connLimits) refusedLocked(key netip.Addr) {
	l.refused++
	if now := time.Now(); now.Sub(l.logged) >= 10*time.Second {
		l.logger.Warn("refused connections over max_connections or max_connections_per_address",
			"refused", l.refused, "last_from", key.String(), "open", l.total, "open_from_it", l.byAddr[key])
		l.logged, l.refused = now, 0
	}
}

func (l *connLimits) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[key] - 1; n > 0 {
		l.byAddr[key] = n
	} else {
		delete(l.byAddr, key)
	}
}

// limitListener closes the connections its limits refuse as it accepts
// them, and counts the others until they close.
type limitListener struct {
	net.Listener
	limits *connLimits
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		if l.limits.admit(key) {
			return &limitedConn{Conn: c, limits: l.limits, key: key}, nil
		}
		c.Close()
	}
}

type limitedConn struct {
	net.Conn
	limits *connLimits
	key    netip.Addr
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.limits.release(c.key) })
	return err
}

// readTimeout is read_timeout, or its default.
func (d *Daemon) readTimeout() time.Duration {
	if d.cfg.ReadTimeout <= 0 {
		return DefaultReadTimeout
	}
	return time.Duration(d.cfg.ReadTimeout)
}

// errBodyTimeout is what reading a body that came too slowly returns.
var errBodyTimeout = errors.New("the request body did not arrive within read_timeout: send it whole, at once")

// limitBody gives a request's body timeout to arrive, from when its
// headers are in. Only requests with a body get a deadline, and it ends
// with the body: a read deadline still set while a handler runs would
// cancel the request (the server reads ahead to see the client leave),
// and checkouts that wait, or event streams, run long.
func limitBody(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody clears the read deadline once the body is read whole.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil || b.done {
		return n, err
	}
	b.done = true
	if err == io.EOF {
		_ = b.rc.SetReadDeadline(time.Time{})
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBodyTimeout
	}
	return n, err
}
