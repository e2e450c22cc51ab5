package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxBody bounds an answer's body; Usher's answers to the bench's
// requests are a few hundred bytes.
const maxBody = 16 << 20

// Framing errors: the server's answer is not HTTP/1.1 the bench can read.
var (
	errMalformed = errors.New("malformed HTTP answer")
	errNoLength  = errors.New("HTTP answer has neither Content-Length nor chunked encoding and keeps the connection")
	errTooLarge  = errors.New("HTTP answer body too large")
	// errStale is a reused connection that the server closed before it
	// answered: the request is sent again on a new connection.
	errStale = errors.New("connection closed by the server before it answered")
)

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is a lean HTTP/1.1 keep-alive client made for load generation: one
// per worker, used synchronously by it. It writes each request in one
// write from pre-formatted header bytes and reads the answer in place,
// into a body buffer it reuses, so a request costs no goroutine handoff
// and no allocation. It redials when the server closes the connection.
type conn struct {
	addr string      // host:port to dial
	tls  *tls.Config // nil for http://
	head []byte      // the request headers after the request line, up to "Content-Length: "
	from net.Addr    // the local address to dial from; nil lets the system choose

	mu          sync.Mutex // guards nc and interrupted against interrupt
	nc          net.Conn
	interrupted bool // the run ended: no more dials until reset

	br   *bufio.Reader
	bw   *bufio.Writer
	used bool // nc has answered, so the server may close it as idle

	status int    // the last answer's status
	body   []byte // the last answer's body
}

func newConn(addr string, tlsConfig *tls.Config, head []byte) *conn {
	return &conn{addr: addr, tls: tlsConfig, head: head,
		br: bufio.NewReaderSize(nil, 4096), bw: bufio.NewWriterSize(nil, 4096), body: make([]byte, 0, 1024)}
}

// dialer is how every connection of the bench is made.
var dialer = net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

func (c *conn) dial(ctx context.Context) error {
	var nc net.Conn
	var err error
	d := &dialer
	if c.from != nil {
		d = &net.Dialer{Timeout: dialer.Timeout, KeepAlive: dialer.KeepAlive, LocalAddr: c.from}
	}
	if c.tls != nil {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", c.addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.interrupted {
		nc.Close()
		return context.Canceled
	}
	c.nc, c.used = nc, false
	c.br.Reset(nc)
	c.bw.Reset(nc)
	return nil
}

// drop closes the connection; the next request dials a new one.
func (c *conn) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// interruptOn makes I/O on c fail at once when ctx ends, so a run's
// deadline cuts a request short. The returned release must be called once
// the caller is done with ctx; it closes the connection if ctx ended, as
// its deadline is then in the past.
func (c *conn) interruptOn(ctx context.Context) (release func()) {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.interrupted = true
		if c.nc != nil {
			_ = c.nc.SetDeadline(aLongTimeAgo)
		}
	})
	return func() {
		if stop() {
			return
		}
		<-done
		c.drop()
		c.mu.Lock()
		c.interrupted = false
		c.mu.Unlock()
	}
}

// roundTrip sends one request and reads its answer into c.status and
// c.body. A request that finds its reused connection closed by the server
// is sent once more on a new one; any other failure drops the connection
// and is returned.
func (c *conn) roundTrip(ctx context.Context, method string, path, body []byte) error {
	for attempt := 0; ; attempt++ {
		if c.nc == nil {
			if err := c.dial(ctx); err != nil {
				return err
			}
		}
		reused := c.used
		err := c.exchange(method, path, body)
		if err == nil {
			return nil
		}
		c.drop()
		if !errors.Is(err, errStale) || !reused || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// exchange writes one request and reads its answer.
func (c *conn) exchange(method string, path, body []byte) error {
	bw := c.bw
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.Write(path)
	bw.WriteString(" HTTP/1.1\r\n")
	bw.Write(c.head)
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(body)), 10))
	bw.WriteString("\r\n\r\n")
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		if isClosed(err) {
			return fmt.Errorf("%w: %w", errStale, err)
		}
		return err
	}
	return c.readAnswer()
}

// isClosed reports whether err says the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readAnswer reads one answer, skipping informational (1xx) ones.
func (c *conn) readAnswer() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if len(line) == 0 && isClosed(err) {
				return fmt.Errorf("%w: %w", errStale, err)
			}
			return err
		}
		status, http10, ok := parseStatusLine(line)
		if !ok {
			return fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		f, err := c.readHeaders()
		if err != nil {
			return err
		}
		if status < 200 {
			continue
		}
		c.status = status
		if err := c.readBody(status, f); err != nil {
			return err
		}
		c.used = true
		if f.close || (http10 && !f.keepAlive) {
			c.drop()
		}
		return nil
	}
}

// parseStatusLine parses "HTTP/1.x NNN reason\r\n".
func parseStatusLine(line []byte) (status int, http10, ok bool) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, false
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, false, false
		}
		status = status*10 + int(d-'0')
	}
	return status, line[7] == '0', true
}

// framing is what an answer's headers say about its body and connection.
type framing struct {
	length    int64 // -1 if no Content-Length
	chunked   bool
	close     bool // Connection: close
	keepAlive bool // Connection: keep-alive (HTTP/1.0)
}

// readHeaders reads header lines up to the blank line, keeping only those
// that frame the body.
func (c *conn) readHeaders() (framing, error) {
	f := framing{length: -1}
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return f, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return f, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return f, fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || (f.length >= 0 && f.length != n) {
				return f, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			f.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			f.chunked = hasToken(value, "chunked")
		case bytes.EqualFold(name, []byte("Connection")):
			f.close = f.close || hasToken(value, "close")
			f.keepAlive = f.keepAlive || hasToken(value, "keep-alive")
		}
	}
}

// parseLength parses a decimal Content-Length.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// hasToken reports whether the comma-separated header value v holds token.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
			return true
		}
	}
	return false
}

// readBody reads the body the headers announce into c.body.
func (c *conn) readBody(status int, f framing) error {
	c.body = c.body[:0]
	switch {
	case status == 204 || status == 304:
		return nil
	case f.chunked:
		return c.readChunked()
	case f.length >= 0:
		if f.length > maxBody {
			return errTooLarge
		}
		return c.readN(int(f.length))
	case f.close:
		return c.readToEOF()
	}
	return errNoLength
}

// readN appends n bytes of the answer to c.body.
func (c *conn) readN(n int) error {
	l := len(c.body)
	c.body = grow(c.body, n)
	_, err := io.ReadFull(c.br, c.body[l:l+n])
	return err
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, 2*cap(b)+n), b...)
	}
	return b[:len(b)+n]
}

// readChunked reads a chunked body, skipping extensions and trailers.
func (c *conn) readChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			_, err := c.readHeaders() // the trailer
			return err
		}
		if int64(len(c.body))+n > maxBody {
			return errTooLarge
		}
		if err := c.readN(int(n)); err != nil {
			return err
		}
		if line, err = c.br.ReadSlice('\n'); err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			return fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
}

// readToEOF reads a body that ends with the connection.
func (c *conn) readToEOF() error {
	for {
		if len(c.body) == cap(c.body) {
			c.body = append(c.body, 0)[:len(c.body)]
		}
		n, err := c.br.Read(c.body[len(c.body):cap(c.body)])
		c.body = c.body[:len(c.body)+n]
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		case len(c.body) > maxBody:
			return errTooLarge
		}
	}
}
