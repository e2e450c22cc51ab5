package cluster_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/cluster"
)

// fixedDirectory always names the same decider.
type fixedDirectory struct{ p cluster.Peer }

func (f fixedDirectory) Decider(context.Context) (cluster.Peer, bool, error) { return f.p, true, nil }

func (f fixedDirectory) Follow(ctx context.Context, fn func(cluster.Peer, bool, error)) {
	fn(f.p, true, nil)
	<-ctx.Done()
}

func writeError(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}

// echoAddr answers the address the request came from, as the API sees it.
var echoAddr = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })

// node serves echoAddr behind a Forwarder; deciding nodes serve it
// themselves, others forward to dir's decider.
func node(t *testing.T, name string, secret string, deciding bool, dir cluster.Directory) *httptest.Server {
	t.Helper()
	f := cluster.NewForwarder(cluster.ForwarderConfig{
		Self: cluster.Peer{Node: name}, Directory: dir, Secret: []byte(secret), WriteError: writeError,
		Deciding: func() context.Context {
			if deciding {
				return context.Background()
			}
			return nil
		},
	})
	srv := httptest.NewServer(f.Accept(f.Forward(echoAddr)))
	t.Cleanup(srv.Close)
	return srv
}

// getFrom sends GET url from the loopback address ip.
func getFrom(t *testing.T, ip, url string, header http.Header) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestForwardedRequestKeepsClientAddress(t *testing.T) {
	dec := node(t, "n1", "s3cret", true, nil)
	fol := node(t, "n2", "s3cret", false, fixedDirectory{cluster.Peer{Node: "n1", URL: dec.URL}})
	status, body := getFrom(t, "127.0.0.2", fol.URL, nil)
	if status != http.StatusOK || !strings.HasPrefix(body, "127.0.0.2:") {
		t.Fatalf("through the follower: %d %q, want 200 and the client's address 127.0.0.2:port", status, body)
	}
}

func TestForwardedAddressNeedsTheClusterSecret(t *testing.T) {
	dec := node(t, "n1", "s3cret", true, nil)
	fol := node(t, "n2", "another", false, fixedDirectory{cluster.Peer{Node: "n1", URL: dec.URL}})
	status, body := getFrom(t, "127.0.0.2", fol.URL, nil)
	if status != http.StatusOK || strings.HasPrefix(body, "127.0.0.2:") {
		t.Fatalf("through a node with another secret: %d %q, want 200 and the forwarding node's address", status, body)
	}
	forged := http.Header{cluster.ForwardedHeader: {"n2"}, cluster.ClientAddrHeader: {"10.1.2.3:4"},
		cluster.SignatureHeader: {strings.Repeat("00", 32)}}
	if status, body := getFrom(t, "127.0.0.3", dec.URL, forged); status != http.StatusOK || !strings.HasPrefix(body, "127.0.0.3:") {
		t.Fatalf("forged headers straight to the decider: %d %q, want 200 and the sender's own address", status, body)
	}
}

func TestForwardedRequestDoesNotLoop(t *testing.T) {
	// b believes a decides; a no longer does, and must not forward again.
	a := node(t, "a", "s3cret", false, nil)
	b := node(t, "b", "s3cret", false, fixedDirectory{cluster.Peer{Node: "a", URL: a.URL}})
	status, body := getFrom(t, "127.0.0.1", b.URL, nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "no longer decides") {
		t.Fatalf("a request forwarded to a node that does not decide: %d %q, want 503 naming the loop", status, body)
	}
}
