package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	usher "github.com/usher-lm/usher"
)

// Files of --tls-auto inside the data directory.
const (
	TLSAutoCertFile = "tls-auto.crt"
	TLSAutoKeyFile  = "tls-auto.key"
)

// tlsAutoValidity is how long a --tls-auto certificate is valid. Clients
// pin its fingerprint rather than trust a chain, so a long life only
// spares them from re-pinning.
const tlsAutoValidity = 10 * 365 * 24 * time.Hour

// serverTLS returns the TLS configuration the settings ask for and the
// SHA-256 fingerprint of its certificate, or nil when TLS is off.
func serverTLS(cfg Config) (*tls.Config, string, error) {
	s := cfg.Security
	if !s.TLS() {
		return nil, "", nil
	}
	certPath, keyPath := s.TLSCert, s.TLSKey
	if s.TLSAuto {
		certPath, keyPath = filepath.Join(cfg.Data, TLSAutoCertFile), filepath.Join(cfg.Data, TLSAutoKeyFile)
		if err := ensureSelfSigned(certPath, keyPath); err != nil {
			return nil, "", fmt.Errorf("tls_auto: %w", err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("tls_cert, tls_key: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if s.TLSClientCA != "" {
		pem, err := os.ReadFile(s.TLSClientCA)
		if err != nil {
			return nil, "", fmt.Errorf("tls_client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("tls_client_ca: %s holds no PEM certificate", s.TLSClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, usher.CertificateFingerprint(cert.Certificate[0]), nil
}

// ensureSelfSigned creates an ECDSA P-256 self-signed certificate for
// localhost, the loopback addresses and this host's name, unless the
// files exist.
func ensureSelfSigned(certPath, keyPath string) error {
	if _, err := os.Stat(certPath); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Usher license server", Organization: []string{"Usher"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(tlsAutoValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	// Public, but private like everything in the data directory.
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// TLSFingerprint returns the SHA-256 fingerprint of the server's TLS
// certificate, or "" when it serves plain HTTP. Clients pin it.
func (d *Daemon) TLSFingerprint() string { return d.tlsPrint }

func (d *Daemon) scheme() string {
	if d.tls != nil {
		return "https"
	}
	return "http"
}
