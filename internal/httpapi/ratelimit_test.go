package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/httpapi"
)

// clientFrom returns an HTTP client whose connections come from the given
// loopback address. All of 127.0.0.0/8 routes to lo on Linux.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestRateLimitPerAddress(t *testing.T) {
	const limit = 20
	srv := MustStartAPI(t, serverOptions{rateLimit: httpapi.RateLimit{Requests: limit, Interval: time.Minute}})
	flood, other := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	resp, err := other.Get(srv.URL + "/healthz")
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	limited := 0
	for i := range 3 * limit { // bounded: the clock does not move, so nothing refills
		status, code, retry := get(t, flood, srv.URL+"/v1/features")
		if i < limit && status != http.StatusOK {
			t.Fatalf("request %d from 127.0.0.1: got %d, want 200 within the burst", i, status)
		}
		if status == http.StatusTooManyRequests {
			limited++
			if code != httpapi.ERateLimited || retry < 1 {
				t.Fatalf("refusal: code %q, Retry-After %d", code, retry)
			}
		}
		if i%4 == 0 { // the other address stays well under its own limit
			if status, _, _ := get(t, other, srv.URL+"/v1/features"); status != http.StatusOK {
				t.Fatalf("request from 127.0.0.2 while 127.0.0.1 floods: got %d, want 200", status)
			}
		}
	}
	if limited != 2*limit {
		t.Errorf("%d requests refused, want %d", limited, 2*limit)
	}
	ev := srv.Events.ofType(httpapi.EventRateLimited)
	if len(ev) != 1 || ev[0].Client.Host != "127.0.0.1" {
		t.Errorf("rate_limited events: %+v, want one for 127.0.0.1", ev)
	}
	srv.Clock.Advance(time.Minute)
	if status, _, _ := get(t, flood, srv.URL+"/v1/features"); status != http.StatusOK {
		t.Errorf("after the interval: got %d, want 200", status)
	}
}

func TestRateLimitOff(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	c := clientFrom(t, "127.0.0.1")
	for i := range 300 {
		if status, _, _ := get(t, c, srv.URL+"/healthz"); status != http.StatusOK {
			t.Fatalf("request %d: got %d with no rate limit", i, status)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) (status int, code string, retryAfter int) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&eb)
	retryAfter, _ = strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, eb.Code, retryAfter
}

// TestRateLimitedRequestIsNotRead sends headers that promise a body and
// no body: the refusal must come, and the connection end, without the
// server waiting for it.
func TestRateLimitedRequestIsNotRead(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{rateLimit: httpapi.RateLimit{Requests: 1, Interval: time.Minute}})
	c := clientFrom(t, "127.0.0.1")
	if status, _, _ := get(t, c, srv.URL+"/healthz"); status != http.StatusOK {
		t.Fatalf("first request: got %d, want 200", status)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // bounds the test, far above what it takes
	fmt.Fprintf(conn, "POST /v1/leases HTTP/1.1\r\nHost: usher\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("got %d, Retry-After %q, Connection %q; want 429, a Retry-After and close",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Connection"))
	}
	io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the 429: got %v, want the server to close the connection without reading the body", err)
	}
}
