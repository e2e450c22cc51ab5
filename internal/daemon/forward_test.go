package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// clientFrom returns an HTTP client whose connections come from ip, one
// of the loopback addresses.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends GET url with the given headers and returns the status and
// body.
func get(t *testing.T, hc *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// follower returns a running node other than dec.
func (c *testCluster) follower(dec int) int { return (dec + 1) % len(c.Configs) }

// TestClusterRateLimitsTheClientBehindAFollower: requests forwarded by a
// node that does not decide count against their client's address, not the
// forwarding node's.
func TestClusterRateLimitsTheClientBehindAFollower(t *testing.T) {
	c := mustStartCluster(t, 3, func(cfg *daemon.Config) {
		cfg.RateLimit = daemon.RateLimitConfig{Requests: 3, Interval: daemon.Duration(time.Hour)}
	})
	dec := c.MustDecider()
	fol := c.follower(dec)
	a, b := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")
	for i := range 3 {
		if status, body := get(t, a, c.URL(fol)+"/v1/features", nil); status != http.StatusOK {
			t.Fatalf("request %d of 3 from 127.0.0.2 through the follower: %d %s, want 200", i+1, status, body)
		}
	}
	status, body := get(t, a, c.URL(fol)+"/v1/features", nil)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "127.0.0.2") {
		t.Fatalf("fourth request from 127.0.0.2 through the follower: %d %s, want 429 naming 127.0.0.2", status, body)
	}
	// The decider counted the forwarded requests as 127.0.0.2's...
	status, body = get(t, a, c.URL(dec)+"/v1/features", nil)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "127.0.0.2") {
		t.Fatalf("request from 127.0.0.2 straight to the decider: %d %s, want 429 naming 127.0.0.2", status, body)
	}
	// ...and not as the follower's, so another client is served.
	if status, body := get(t, b, c.URL(fol)+"/v1/features", nil); status != http.StatusOK {
		t.Fatalf("first request from 127.0.0.3 through the same follower: %d %s, want 200", status, body)
	}
}

// TestClusterRecordsTheClientBehindAFollower: a failed login through a
// node that does not decide is recorded with the client's address.
func TestClusterRecordsTheClientBehindAFollower(t *testing.T) {
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	fol := c.follower(dec)
	req, err := http.NewRequest(http.MethodPost, c.URL(fol)+"/v1/auth/login",
		strings.NewReader(`{"username":"mallory","password":"guess"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := clientFrom(t, "127.0.0.6").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password through the follower: %d, want 401", resp.StatusCode)
	}
	var hosts []string
	err = ushertest.RetryUnavailable(10*time.Second, func() error {
		evs, err := c.Client(dec).Events(context.Background(), wire.EventsQuery{Type: "login_failed"})
		hosts = hosts[:0]
		for _, ev := range evs {
			hosts = append(hosts, ev.Client.Host)
		}
		if err == nil && len(evs) == 0 {
			return usher.Errorf(usher.EUnavailable, "no login_failed event yet")
		}
		return err
	})
	if err != nil || len(hosts) != 1 || hosts[0] != "127.0.0.6" {
		t.Fatalf("login_failed events: hosts %v (err %v), want [127.0.0.6]", hosts, err)
	}
}

// TestClusterIgnoresForgedClientAddress: a client cannot pass itself off
// as another address by sending the headers of a forwarded request.
func TestClusterIgnoresForgedClientAddress(t *testing.T) {
	c := mustStartCluster(t, 3, func(cfg *daemon.Config) {
		cfg.RateLimit = daemon.RateLimitConfig{Requests: 2, Interval: daemon.Duration(time.Hour)}
	})
	dec := c.MustDecider()
	hc := clientFrom(t, "127.0.0.4")
	for i := range 3 {
		forged := http.Header{}
		forged.Set(cluster.ForwardedHeader, c.Configs[c.follower(dec)].NodeName)
		forged.Set(cluster.ClientAddrHeader, "127.0.1."+string(rune('1'+i))+":4000")
		forged.Set(cluster.SignatureHeader, strings.Repeat("ab", 32))
		status, body := get(t, hc, c.URL(dec)+"/v1/features", forged)
		switch {
		case i < 2 && status != http.StatusOK:
			t.Fatalf("forged request %d: %d %s, want 200", i+1, status, body)
		case i == 2 && (status != http.StatusTooManyRequests || !strings.Contains(body, "127.0.0.4")):
			t.Fatalf("third forged request: %d %s, want 429 naming the real address 127.0.0.4", status, body)
		}
	}
}

// TestClusterFollowerAnswersItsOwnMetrics: /metrics is never forwarded;
// the decider's store is instrumented in a cluster too.
func TestClusterFollowerAnswersItsOwnMetrics(t *testing.T) {
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	fol := c.follower(dec)
	c.AddLicense(fol, "cad", 1) // forwarded: the decider stores it
	tok, err := os.ReadFile(filepath.Join(c.Configs[fol].Data, daemon.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	auth := http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}}
	hc := clientFrom(t, "127.0.0.1")
	const commit = "usher_store_commit_duration_seconds_count"
	status, body := get(t, hc, c.URL(dec)+"/metrics", auth)
	if status != http.StatusOK || !strings.Contains(body, commit) {
		t.Fatalf("the decider's /metrics: status %d, has %s: %v; want 200 with it", status, commit, strings.Contains(body, commit))
	}
	status, body = get(t, hc, c.URL(fol)+"/metrics", auth)
	if status != http.StatusOK || !strings.Contains(body, "usher_build_info") {
		t.Fatalf("the follower's /metrics: status %d; want 200 with its own metrics:\n%s", status, body)
	}
	if strings.Contains(body, commit) {
		t.Fatalf("the follower's /metrics has %s: it shows the decider's metrics, not its own", commit)
	}
	if status, body := get(t, hc, c.URL(fol)+"/healthz", nil); !strings.Contains(body, c.Configs[fol].NodeName) {
		t.Fatalf("the follower's /healthz: %d %s, want its own node name", status, body)
	}
}
