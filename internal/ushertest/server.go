package ushertest

import (
	"context"
	"crypto/ed25519"
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

// ServerOptions says what StartServer starts. The zero value is a plain
// server with no license.
type ServerOptions struct {
	// Dev starts the server in dev mode, with its demo license of
	// daemon.DevSeats seats of daemon.DevFeature.
	Dev bool
	// Seats, if set, is loaded as a license granting that many seats of
	// each feature, signed with the server's vendor key. Not with Dev: a
	// dev server trusts only its own throwaway key.
	Seats map[string]int
	// Configure, if set, changes the configuration before it is validated.
	Configure func(*daemon.Config)
	// Daemon is what daemon.Start is given: the clock, the logger, the
	// version.
	Daemon daemon.Options
}

// Server is a whole Usher server in the test process, on a loopback port
// with its data in a temporary directory. It can be stopped and started
// again on the same data and address.
type Server struct {
	tb     testing.TB
	opts   daemon.Options
	Config daemon.Config      // the configuration it runs with
	Daemon *daemon.Daemon     // the running daemon, nil while stopped
	Token  string             // the admin token
	Vendor ed25519.PrivateKey // the vendor key its vendor_key trusts; nil in dev mode
}

// StartServer starts a server on 127.0.0.1:0, stopped when the test ends.
func StartServer(tb testing.TB, opts ServerOptions) *Server {
	tb.Helper()
	dir := tb.TempDir()
	s := &Server{tb: tb, opts: opts.Daemon}
	s.Config = daemon.DefaultConfig()
	s.Config.Data = filepath.Join(dir, "data")
	s.Config.Listen = []string{"127.0.0.1:0"}
	s.Config.Discovery = false // a test that wants it turns it on, on a port of its own
	if opts.Dev {
		// Dev mode trusts its own key only: Validate refuses it next to vendor_key.
		s.Config.Dev = true
		if err := daemon.PrepareDev(&s.Config); err != nil {
			tb.Fatal(err)
		}
	} else {
		s.Vendor = mustVendorKey(tb, dir)
		s.Config.VendorKey = []string{filepath.Join(dir, "vendor.pub")}
	}
	if opts.Configure != nil {
		opts.Configure(&s.Config)
	}
	if err := s.Config.Validate(); err != nil {
		tb.Fatal(err)
	}
	s.Start()
	tb.Cleanup(s.Close)
	if opts.Seats != nil {
		s.AddLicense(opts.Seats)
	}
	return s
}

// mustVendorKey writes a vendor key pair into dir as vendor.key and
// vendor.pub and returns the private key.
func mustVendorKey(tb testing.TB, dir string) ed25519.PrivateKey {
	tb.Helper()
	keyPath := filepath.Join(dir, "vendor.key")
	if err := daemon.WriteVendorKeys(keyPath, filepath.Join(dir, "vendor.pub")); err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		tb.Fatal(err)
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// Start starts the daemon, on the address it had before if any.
func (s *Server) Start() {
	s.tb.Helper()
	s.Daemon = StartDaemon(s.tb, s.Config, s.opts)
	s.Config.Listen = []string{s.Daemon.Addrs()[0].String()}
	s.Token = Token(s.tb, s.Daemon)
}

// Close stops the daemon; the data directory stays for a restart. Safe to
// call twice.
func (s *Server) Close() {
	if s.Daemon != nil {
		if err := s.Daemon.Close(); err != nil {
			s.tb.Error(err)
		}
		s.Daemon = nil
	}
}

// Kill stops the daemon abruptly, as kill -9 would; the data directory
// stays for a restart.
func (s *Server) Kill() {
	if s.Daemon != nil {
		s.Daemon.Kill()
		s.Daemon = nil
	}
}

// Restart stops the daemon and starts a new one on the same data and
// address.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Close()
	s.Start()
}

// Addr returns the server's host:port, kept across restarts.
func (s *Server) Addr() string { return s.Config.Listen[0] }

// URL returns the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Ledger returns the running daemon's ledger.
func (s *Server) Ledger() *usher.Ledger { return s.Daemon.Ledger() }

// Admin returns an API client with the admin token and its own
// connections, closed when the test ends.
func (s *Server) Admin() *apiclient.Client { return AdminClient(s.tb, s.Daemon) }

// Sign returns a license with grants, signed with the server's vendor key.
func (s *Server) Sign(grants ...usher.Grant) []byte {
	s.tb.Helper()
	if s.Vendor == nil {
		s.tb.Fatal("a dev server trusts only its own throwaway key: start the server without Dev to sign licenses for it")
	}
	return Sign(s.tb, s.Vendor, grants...)
}

// AddLicense signs and loads a license granting seats of each feature.
func (s *Server) AddLicense(seats map[string]int) {
	s.tb.Helper()
	var grants []usher.Grant
	for f, n := range seats {
		grants = append(grants, usher.Grant{Feature: f, Seats: n})
	}
	if _, err := s.Ledger().AddLicense(context.Background(), s.Sign(grants...)); err != nil {
		s.tb.Fatal(err)
	}
}

// Sign returns a license with grants, issued an hour ago to "Test" and
// signed with priv.
func Sign(tb testing.TB, priv ed25519.PrivateKey, grants ...usher.Grant) []byte {
	tb.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), Grants: grants}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		tb.Fatal(err)
	}
	return text
}

// StartDaemon validates cfg and starts a daemon with it, closed when the
// test ends: for tests that build the whole configuration themselves.
func StartDaemon(tb testing.TB, cfg daemon.Config, opts daemon.Options) *daemon.Daemon {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Token returns the admin token of a running daemon.
func Token(tb testing.TB, d *daemon.Daemon) string {
	tb.Helper()
	tok, err := os.ReadFile(d.TokenPath())
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(tok))
}

// AdminClient returns an API client of a daemon with its admin token and
// its own connections, closed when the test ends.
func AdminClient(tb testing.TB, d *daemon.Daemon) *apiclient.Client {
	tb.Helper()
	tr := &http.Transport{}
	c, err := apiclient.New(apiclient.Config{Servers: []string{d.URL()}, Token: Token(tb, d),
		HTTPClient: &http.Client{Transport: tr}, RequestTimeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return c
}
