package daemon_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// dialFrom opens a TCP connection to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closes c within wait without
// c sending anything; a connection the server serves stays open.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// getFrom sends GET /healthz on c and reports whether it was answered 200.
func getFrom(c net.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: usher\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("got %d, want 200", resp.StatusCode)
	}
	return nil
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	const perAddr = 3
	cfg := testConfig(t)
	cfg.MaxConnectionsPerAddress = perAddr
	cfg.ReadHeaderTimeout = daemon.Duration(time.Minute) // the idle connections below stay
	d, _ := MustStartLogged(t, cfg)
	addr := d.Addrs()[0].String()
	held := make([]net.Conn, perAddr)
	for i := range held {
		held[i] = dialFrom(t, "127.0.0.1", addr)
	}
	if err := getFrom(held[0]); err != nil {
		t.Fatalf("a connection within the cap: %v", err)
	}
	if !closedByServer(dialFrom(t, "127.0.0.1", addr), 5*time.Second) {
		t.Fatalf("connection %d from 127.0.0.1 was kept, want it closed at once", perAddr+1)
	}
	if err := getFrom(dialFrom(t, "127.0.0.2", addr)); err != nil {
		t.Fatalf("from 127.0.0.2 while 127.0.0.1 is at its cap: %v", err)
	}
	held[1].Close()
	ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		return getFrom(dialFrom(t, "127.0.0.1", addr))
	})
}

func TestConnectionsAreCappedInAll(t *testing.T) {
	const max = 16 // the smallest max_connections allowed
	cfg := testConfig(t)
	cfg.MaxConnections = max
	cfg.ReadHeaderTimeout = daemon.Duration(time.Minute)
	d, log := MustStartLogged(t, cfg)
	addr := d.Addrs()[0].String()
	for i := range max {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", 1+i%4), addr)
		if i == 0 {
			if err := getFrom(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !closedByServer(dialFrom(t, "127.0.0.9", addr), 5*time.Second) {
		t.Fatalf("connection %d was kept, want it closed at once", max+1)
	}
	ushertest.WaitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(log.String(), "refused connections") {
			return errors.New("no log line about the refused connection")
		}
		return nil
	})
}

// TestSlowBodyIsCutOff sends a checkout's headers and then its body a
// byte at a time: the server must end the request once read_timeout
// passes, whatever the client still sends.
func TestSlowBodyIsCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReadTimeout = daemon.Duration(300 * time.Millisecond)
	d, _ := MustStartLogged(t, cfg)
	c := dialFrom(t, "127.0.0.1", d.Addrs()[0].String())
	fmt.Fprintf(c, "POST /v1/leases HTTP/1.1\r\nHost: usher\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // until the server closes the connection
		close(closed)
	}()
	deadline := time.After(10 * time.Second) // far above read_timeout: only a hang fails
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return
		case <-deadline:
			t.Fatalf("the server still read the slow body after %d bytes", i)
		case <-tick.C:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte{' '}); err != nil {
				return // closed
			}
		}
	}
}

// TestWaitingCheckoutOutlastsReadTimeout checks that the body deadline
// ends with the body: a checkout that waits longer than read_timeout for
// a seat still gets its answer.
func TestWaitingCheckoutOutlastsReadTimeout(t *testing.T) {
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 1},
		Configure: func(c *daemon.Config) { c.ReadTimeout = daemon.Duration(200 * time.Millisecond) }})
	post := func(client string) (*http.Response, error) {
		body := fmt.Sprintf(`{"feature":"cad","client":{"id":%q},"wait":"1s"}`, client)
		return http.Post(srv.URL()+"/v1/leases", "application/json", strings.NewReader(body))
	}
	resp, err := post("first")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("first checkout: %v %v", resp, err)
	}
	resp.Body.Close()
	start := time.Now()
	resp, err = post("second")
	if err != nil {
		t.Fatalf("a checkout that waits past read_timeout: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || time.Since(start) < time.Second {
		t.Fatalf("waiting checkout: got %d after %v, want 409 after its 1s wait", resp.StatusCode, time.Since(start))
	}
}
