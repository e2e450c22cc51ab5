package bench_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/bench"
)

// rawServer is a loopback HTTP/1.1 server whose answers are written byte
// for byte by the test, to check how the bench frames and reads them. It
// parses every request with net/http, so a malformed request fails too.
type rawServer struct {
	ln       net.Listener
	answer   func(req *http.Request, n int64) reply
	token    string // the Authorization every request must carry
	requests atomic.Int64
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	bad   []string // requests that were not what the bench should send
}

// reply is what a rawServer writes for the n-th request, and whether it
// then closes the connection.
type reply struct {
	text   string
	hangUp bool
}

// MustStartRaw starts a rawServer on 127.0.0.1:0, stopped when the test
// ends.
func MustStartRaw(tb testing.TB, token string, answer func(req *http.Request, n int64) reply) *rawServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &rawServer{ln: ln, answer: answer, token: token, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(s.close)
	return s
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

func (s *rawServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *rawServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		s.check(req, body)
		a := s.answer(req, s.requests.Add(1))
		if _, err := io.WriteString(c, a.text); err != nil || a.hangUp || strings.Contains(a.text, "Connection: close") {
			return
		}
	}
}

// check records a request that lacks what every bench request carries.
func (s *rawServer) check(req *http.Request, body []byte) {
	var bad []string
	if req.Host != s.ln.Addr().String() {
		bad = append(bad, "host "+req.Host)
	}
	if req.ContentLength != int64(len(body)) || req.Header.Get("Content-Type") != "application/json" {
		bad = append(bad, fmt.Sprintf("length %d of %d, type %q", req.ContentLength, len(body), req.Header.Get("Content-Type")))
	}
	if got, want := req.Header.Get("Authorization"), "Bearer "+s.token; s.token != "" && got != want {
		bad = append(bad, "authorization "+got)
	}
	if req.Method == "POST" && req.URL.Path == "/v1/leases" && !strings.HasPrefix(string(body), `{"feature":"bench"`) {
		bad = append(bad, "checkout body "+string(body))
	}
	if len(bad) > 0 {
		s.mu.Lock()
		s.bad = append(s.bad, req.Method+" "+req.URL.Path+": "+strings.Join(bad, ", "))
		s.mu.Unlock()
	}
}

func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// checkRequests fails the test if any request was malformed.
func (s *rawServer) checkRequests(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bad {
		t.Errorf("bad request: %s", b)
	}
}

// answer builds an HTTP/1.1 answer with a Content-Length.
func answer(status int, headers, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), headers, len(body), body)
}

// leaseServer answers checkouts with lease ls_N and releases with 204,
// and checks that each release names a lease it handed out.
func leaseServer(checkout func(n int64) reply) func(req *http.Request, n int64) reply {
	return func(req *http.Request, n int64) reply {
		switch {
		case req.Method == "POST" && req.URL.Path == "/v1/leases":
			return checkout(n)
		case req.Method == "DELETE" && strings.HasPrefix(req.URL.Path, "/v1/leases/ls_"):
			return reply{text: "HTTP/1.1 204 No Content\r\n\r\n"}
		}
		return reply{text: answer(404, "", `{"code":"not_found","message":"no such route `+req.URL.Path+`"}`)}
	}
}

func leaseBody(n int64) string {
	return `{"id":"ls_` + strconv.FormatInt(n, 10) + `","feature":"bench","heartbeat_interval":"1m0s"}` + "\n"
}

// runRaw runs checkout-release against s for at most ops pairs.
func runRaw(t *testing.T, s *rawServer, ops int64) *bench.Result {
	t.Helper()
	return MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Server: s.URL(), Token: s.token,
		Clients: 4, Duration: 10 * time.Second, MaxOps: ops})
}

// TestFramingContentLength checks keep-alive answers framed by
// Content-Length: one connection per worker, every pair completed.
func TestFramingContentLength(t *testing.T) {
	s := MustStartRaw(t, "secret", leaseServer(func(n int64) reply {
		return reply{text: answer(201, "Content-Type: application/json\r\n", leaseBody(n))}
	}))
	res := runRaw(t, s, 200)
	checkCounts(t, res)
	s.checkRequests(t)
	if got, want := res.Ops, int64(200); got != want {
		t.Errorf("pairs = %d, want %d", got, want)
	}
	if got, want := s.accepted.Load(), int64(4); got != want {
		t.Errorf("connections = %d, want one per worker, %d", got, want)
	}
}

// TestFramingChunked checks a checkout answer in chunked encoding, with a
// chunk extension and a trailer.
func TestFramingChunked(t *testing.T) {
	s := MustStartRaw(t, "", leaseServer(func(n int64) reply {
		b := leaseBody(n)
		return reply{text: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("5;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", b[:5], len(b)-5, b[5:])}
	}))
	res := runRaw(t, s, 50)
	checkCounts(t, res)
	s.checkRequests(t)
	if got, want := res.Ops, int64(50); got != want {
		t.Errorf("pairs = %d, want %d", got, want)
	}
}

// TestFramingConnectionClose checks that an answer with Connection: close
// is read, with a Content-Length or up to the end of the connection, and
// that the next request goes out on a new connection.
func TestFramingConnectionClose(t *testing.T) {
	s := MustStartRaw(t, "", leaseServer(func(n int64) reply {
		if n%2 == 0 {
			return reply{text: "HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n" + leaseBody(n)}
		}
		return reply{text: answer(201, "Connection: close\r\n", leaseBody(n))}
	}))
	res := runRaw(t, s, 30)
	checkCounts(t, res)
	s.checkRequests(t)
	if got, want := res.Ops, int64(30); got != want {
		t.Errorf("pairs = %d, want %d", got, want)
	}
	// Each checkout closes its connection; the release after it dials.
	if got, want := s.accepted.Load(), int64(30+4); got != want {
		t.Errorf("connections = %d, want one per worker and one per pair, %d", got, want)
	}
}

// TestFramingHangUpWhenIdle checks that a request that finds its
// connection closed by the server (as after an idle timeout) is sent again
// on a new one, without an error.
func TestFramingHangUpWhenIdle(t *testing.T) {
	lease := leaseServer(func(n int64) reply { return reply{text: answer(201, "", leaseBody(n))} })
	s := MustStartRaw(t, "", func(req *http.Request, n int64) reply {
		r := lease(req, n)
		r.hangUp = req.Method == "DELETE"
		return r
	})
	res := runRaw(t, s, 20)
	checkCounts(t, res)
	s.checkRequests(t)
	if got, want := res.Ops, int64(20); got != want {
		t.Errorf("pairs = %d, want %d", got, want)
	}
	if got := s.accepted.Load(); got < 20 {
		t.Errorf("connections = %d, want one per pair, 20 or more", got)
	}
}

// TestFramingErrorBody checks that a refused checkout is counted by the
// code in its error body.
func TestFramingErrorBody(t *testing.T) {
	s := MustStartRaw(t, "", leaseServer(func(n int64) reply {
		if n%2 == 0 {
			return reply{text: answer(409, "Content-Type: application/json\r\n",
				`{"code":"no_seats_available","message":"all 1 seats of bench are in use","status":409}`+"\n")}
		}
		return reply{text: answer(201, "", leaseBody(n))}
	}))
	res := MustRun(t, bench.Config{Scenario: bench.Startup, Server: s.URL(), Clients: 10, Workers: 1})
	s.checkRequests(t)
	if got, want := res.Errors[usher.ENoSeats], int64(5); got != want {
		t.Errorf("errors[%s] = %d, want %d (all errors %v)", usher.ENoSeats, got, want, res.Errors)
	}
	if got, want := res.Ops, int64(5); got != want {
		t.Errorf("clients holding a seat = %d, want %d", got, want)
	}
}

// TestFramingCutShort checks that an answer cut short by the server
// closing the connection is a transport error, and that the run goes on
// on a new connection.
func TestFramingCutShort(t *testing.T) {
	s := MustStartRaw(t, "", leaseServer(func(n int64) reply {
		a := answer(201, "", leaseBody(n))
		if n%5 == 0 {
			return reply{text: a[:len(a)-10], hangUp: true} // the body stops short of its length
		}
		return reply{text: a}
	}))
	res := runRaw(t, s, 40)
	s.checkRequests(t)
	if res.Errors["transport"] == 0 || res.Ops == 0 || len(res.Errors) != 1 {
		t.Errorf("errors %v, pairs %d: want only transport errors, and completed pairs", res.Errors, res.Ops)
	}
	var measured, failed int64
	for _, l := range res.LatencyBy {
		measured += l.Count
	}
	for _, n := range res.Errors {
		failed += n
	}
	if got, want := measured+failed, res.Requests; got != want {
		t.Errorf("measured %d + failed %d = %d, want requests %d", measured, failed, got, want)
	}
}
