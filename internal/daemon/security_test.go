package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
)

func TestBootstrapAdmin(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	d, log := MustStartLogged(t, cfg)
	path := filepath.Join(cfg.Data, daemon.AdminPasswordFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(data))
	for _, f := range []string{daemon.AdminPasswordFile, daemon.SigningKeyFile, daemon.TokenFile} {
		fi, err := os.Stat(filepath.Join(cfg.Data, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if out := log.String(); !strings.Contains(out, path) || strings.Contains(out, password) {
		t.Errorf("the log must name %s and never show the password:\n%s", path, out)
	}
	c := apiclient.MustNew(d.URL(), "")
	defer c.Close()
	login, err := c.Login(ctx, "admin", password)
	if err != nil {
		t.Fatalf("login as admin: %v", err)
	}
	d.Close()

	os.Remove(path)
	d2, log2 := MustStartLogged(t, cfg)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("second start wrote %s again (err %v): users exist already", path, err)
	}
	if strings.Contains(log2.String(), "created user admin") {
		t.Errorf("second start created the admin again:\n%s", log2)
	}
	c2 := apiclient.MustNew(d2.URL(), login.Token)
	defer c2.Close()
	if _, err := c2.Leases(ctx); err != nil {
		t.Fatalf("a login outlives a restart (same signing key): %v", err)
	}
	static := apiclient.MustNew(d2.URL(), readToken(t, cfg.Data))
	defer static.Close()
	if _, err := static.Users(ctx); err != nil {
		t.Fatalf("the static admin token keeps working: %v", err)
	}
}

func readToken(t *testing.T, dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, daemon.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestListenIPv4AndIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0", "[::1]:0"}
	d, _ := MustStartLogged(t, cfg)
	addrs := d.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("listening on %v, want two addresses", addrs)
	}
	for _, a := range addrs {
		c := apiclient.MustNew("http://"+a.String(), "")
		if err := c.Health(context.Background()); err != nil {
			t.Errorf("health on %s: %v", a, err)
		}
		c.Close()
	}
}

func TestTLSAuto(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.TLSAuto = true
	d, _ := MustStartLogged(t, cfg)
	fp := d.TLSFingerprint()
	if !strings.HasPrefix(d.URL(), "https://") || fp == "" {
		t.Fatalf("URL %s, fingerprint %q: want HTTPS with a fingerprint", d.URL(), fp)
	}
	pinned, err := usher.PinnedTLSConfig(fp)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: pinned}
	defer tr.CloseIdleConnections()
	c := mustClient(t, apiclient.Config{Servers: []string{d.URL()}, HTTPClient: &http.Client{Transport: tr}})
	if err := c.Health(ctx); err != nil {
		t.Fatalf("health over pinned TLS: %v", err)
	}
	plainTr := &http.Transport{TLSClientConfig: &tls.Config{}}
	defer plainTr.CloseIdleConnections()
	plain := mustClient(t, apiclient.Config{Servers: []string{d.URL()}, HTTPClient: &http.Client{Transport: plainTr}})
	if err := plain.Health(ctx); err == nil {
		t.Fatal("a self-signed certificate must not pass the system roots")
	}
	d.Close()
	d2, _ := MustStartLogged(t, cfg)
	if got := d2.TLSFingerprint(); got != fp {
		t.Errorf("fingerprint changed across restarts: %s, then %s", fp, got)
	}
}

// TestSlowLoris holds many connections open that send their headers a
// byte at a time, and checks that a normal client is still served and
// that the server cuts the slow ones once ReadHeaderTimeout passes.
func TestSlowLoris(t *testing.T) {
	const slow = 200
	cfg := testConfig(t)
	cfg.ReadHeaderTimeout = daemon.Duration(300 * time.Millisecond)
	d, _ := MustStartLogged(t, cfg)
	addr := d.Addrs()[0].String()

	deadline := time.Now().Add(15 * time.Second) // generous: only a hang fails
	cut := make(chan bool, slow)
	for range slow {
		go func() { cut <- trickle(addr, deadline) }()
	}
	c := mustClient(t, apiclient.Config{Servers: []string{d.URL()}, RequestTimeout: 10 * time.Second})
	defer c.Close()
	for i := range 20 {
		if _, err := c.Features(context.Background()); err != nil {
			t.Fatalf("normal request %d while %d slow clients trickle: %v", i, slow, err)
		}
	}
	for i := range slow {
		if !<-cut {
			t.Fatalf("slow connection %d was still open at the deadline: ReadHeaderTimeout did not cut it", i)
		}
	}
}

// trickle sends a never-ending request header one byte every 10 ms, and
// reports whether the server closed the connection before deadline.
func trickle(addr string, deadline time.Time) bool {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	header := []byte("GET /v1/features HTTP/1.1\r\nHost: x\r\n")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; time.Now().Before(deadline); i++ {
		b := byte('a')
		if i < len(header) {
			b = header[i]
		}
		conn.SetWriteDeadline(deadline)
		if _, err := conn.Write([]byte{b}); err != nil {
			return true
		}
		<-tick.C
	}
	return false
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCA(t)
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.TLSAuto, cfg.TLSClientCA = true, caPath
	d, _ := MustStartLogged(t, cfg)

	health := func(certs []tls.Certificate) error {
		pinned, err := usher.PinnedTLSConfig(d.TLSFingerprint())
		if err != nil {
			t.Fatal(err)
		}
		pinned.Certificates = certs
		tr := &http.Transport{TLSClientConfig: pinned}
		defer tr.CloseIdleConnections()
		c := mustClient(t, apiclient.Config{Servers: []string{d.URL()}, HTTPClient: &http.Client{Transport: tr}})
		return c.Health(context.Background())
	}
	if err := health(nil); err == nil {
		t.Error("a client without a certificate got in")
	}
	if err := health([]tls.Certificate{clientCert(t, caCert, caKey)}); err != nil {
		t.Errorf("a client with a certificate from the CA: %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func clientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "workstation"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mustClient returns an API client for cfg.
func mustClient(t *testing.T, cfg apiclient.Config) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
