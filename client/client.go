// Package client is the Go SDK for Usher: applications embed it to check
// out a seat of a licensed feature and keep it while they run.
//
// A Client finds its servers (Options.Servers, else the USHER_SERVER
// environment variable, else an Options.Resolver, else by discovery on the
// LAN: see docs/discovery.md), checks out leases and
// keeps each one alive in the background. It recovers on its own from what
// can be recovered: transient errors are retried with backoff, a restarted
// server is heartbeated under the same lease ID, a reclaimed or kicked
// lease is checked out again, and with several servers it fails over to
// the next one that answers. A Lease reports through Done and Err only when
// its seat is definitively lost.
//
// Errors carry the server's codes: errors.Is(err, usher.ErrNoSeats) and the
// other sentinels of package usher work on every error this package
// returns.
package client

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// Environment variables New reads when the matching Options field is empty.
const (
	// EnvServer is a comma-separated list of URLs or host:port addresses.
	EnvServer = "USHER_SERVER"
	// EnvClientToken is the credential for servers that require one of
	// clients: the client password or a client-role API token.
	EnvClientToken = "USHER_CLIENT_TOKEN"
	// EnvTLSFingerprint pins the SHA-256 fingerprint of the server's
	// certificate, as usher server --tls-auto prints it.
	EnvTLSFingerprint = "USHER_TLS_FINGERPRINT"
)

// Defaults for Options.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultRetryTimeout   = 30 * time.Second
)

// ErrClosed is returned by calls on a Client after Close.
var ErrClosed = errors.New("usher client is closed: create a new one with client.New")

// ErrReleased is what Lease.Err returns once the lease was given back by
// Release or Client.Close.
var ErrReleased = errors.New("lease released")

// Resolver finds Usher servers. It is the seam for server discovery: New
// uses it when neither Options.Servers nor USHER_SERVER names a server, and
// the client asks it again when none of the servers it knows answers.
type Resolver interface {
	// Resolve returns server addresses, as URLs or host:port, in order of
	// preference.
	Resolve(ctx context.Context) ([]string, error)
}

// Options configure a Client. The zero value reads USHER_SERVER and builds
// the client identity from this machine, user and process.
type Options struct {
	// Servers to use, in order of preference: URLs ("http://host:7420") or
	// host:port. When empty, USHER_SERVER is read, then Resolver is used.
	Servers []string
	// Resolver finds servers when neither Servers nor USHER_SERVER does.
	// When it is nil too, the client searches the LAN (docs/discovery.md)
	// unless NoDiscovery is set.
	Resolver Resolver
	// NoDiscovery turns the search of the LAN off: New then fails unless
	// Servers, USHER_SERVER or Resolver names a server.
	NoDiscovery bool
	// DiscoveryPort is the servers' discovery_port; default 7420.
	// Announcements are heard on the port after it.
	DiscoveryPort int
	// DiscoveryCache is the file where a client that searches the LAN
	// remembers the last server that answered, tried first at the next
	// start; default last-server.json in the usher directory of the
	// user's cache directory (os.UserCacheDir).
	DiscoveryCache string
	// NoAnnouncements turns off listening to the servers' announcements,
	// with which a client that lost its server tries again at once when
	// a server announces its start, instead of at the end of its backoff.
	NoAnnouncements bool
	// Now is the clock of the LAN search's schedule; default time.Now.
	Now func() time.Time
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string

	// ClientID overrides the stable identity of this application instance,
	// by default a hash of the machine id, the OS user and the process id.
	// Two checkouts of one feature with the same ClientID share one seat.
	ClientID string
	// User and Host override the OS user name and the host name reported
	// to the server.
	User string
	Host string

	// LicenseeSecret is sent with every checkout (client.secret) for
	// licenses with a Licensee Secret: the vendor's predefined secret, or
	// one that binds the license to this installation on first use, such
	// as MachineSecret's. The server keeps only its hash. See
	// docs/security.md.
	LicenseeSecret string

	// Token is sent as a bearer token with every request, for servers
	// that set client_password or issue client tokens; default
	// USHER_CLIENT_TOKEN. Servers on an open LAN need none.
	Token string
	// TLSFingerprint, if set, makes the client trust exactly the server
	// certificate with this SHA-256 fingerprint (for a self-signed
	// certificate, as usher server --tls-auto makes); default
	// USHER_TLS_FINGERPRINT. It is ignored when HTTPClient is set.
	TLSFingerprint string

	// HTTPClient sends the requests; default a client of its own, whose
	// idle connections Close closes.
	HTTPClient *http.Client
	// RequestTimeout bounds one request (a waiting checkout gets its wait
	// on top); default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// RetryTimeout bounds how long Checkout, Release and a lease's
	// re-checkout keep retrying servers that do not answer; default
	// DefaultRetryTimeout. A heartbeat retries until the lease expires.
	RetryTimeout time.Duration

	// VendorKeys, if set, are the PEM texts of the vendor's public keys
	// (vendor.pub), compiled into the application. The client then
	// verifies every checkout and heartbeat answer: a license signed by
	// one of these keys grants the feature and is bound to the server
	// whose identity signed the answer's lease token, and the token names
	// this client, the feature and the nonce just sent. Anything else
	// fails with usher.ErrUntrustedServer and no lease is held. See
	// docs/sdk.md for what this proves, and what it does not without.
	VendorKeys [][]byte
	// MaxClockSkew is how far the server's time in a verified answer may
	// be from this machine's clock; beyond it, checkouts and heartbeats
	// fail with usher.ErrClockSkew. Default DefaultMaxClockSkew. Used
	// only with VendorKeys.
	MaxClockSkew time.Duration
	// BorrowDir is where borrowed leases keep their signed tokens, one
	// file per feature, so that they survive a restart of the
	// application; default the usher/borrowed directory in the user's
	// configuration directory (os.UserConfigDir).
	BorrowDir string

	// OnEvent, if set, is told what the client does on its own: retries,
	// failovers, re-checkouts, lost seats. It is called synchronously from
	// the client's goroutines, possibly from several at once, so it must be
	// safe for concurrent use, return quickly, and not call Release or
	// Close.
	OnEvent func(Event)
}

// Client checks out leases from Usher servers and keeps them alive. It is
// safe for concurrent use. Close releases everything it holds.
type Client struct {
	opts     Options
	http     *http.Client
	identity usher.Client
	resolver Resolver     // nil when the servers are configured
	lan      *lanResolver // the resolver when it searches the LAN; see discover.go
	verify   *verifier    // nil without Options.VendorKeys; see verify.go

	ctx    context.Context // cancelled by Close; parent of every lease
	cancel context.CancelFunc
	wg     sync.WaitGroup // heartbeat goroutines

	mu      sync.Mutex
	servers []string      // normalized base URLs, as last resolved
	current string        // the server that answered last
	wake    chan struct{} // closed to cut retries' backoff short; see discover.go
	heard   bool          // listening to announcements, or tried to
	leases  map[string]*Lease
	closed  bool
}

// New returns a client. Without Options.Servers, USHER_SERVER or
// Options.Resolver it searches the LAN for servers when it first needs
// one; with Options.NoDiscovery too, it fails.
func New(opts Options) (*Client, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = DefaultRetryTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	servers, err := configuredServers(opts)
	if err != nil {
		return nil, err
	}
	if opts.Token == "" {
		opts.Token = opts.Getenv(EnvClientToken)
	}
	if opts.TLSFingerprint == "" {
		opts.TLSFingerprint = opts.Getenv(EnvTLSFingerprint)
	}
	c := &Client{opts: opts, http: opts.HTTPClient, identity: identity(opts), servers: servers, leases: make(map[string]*Lease), wake: make(chan struct{})}
	if c.verify, err = newVerifier(opts); err != nil {
		return nil, err
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if opts.TLSFingerprint != "" {
			if tr.TLSClientConfig, err = usher.PinnedTLSConfig(opts.TLSFingerprint); err != nil {
				return nil, err
			}
		}
		c.http = &http.Client{Transport: tr}
	}
	switch {
	case servers != nil:
	case opts.Resolver != nil:
		c.resolver = opts.Resolver
	default:
		c.lan = newLANResolver(opts, c.wantedFeatures)
		c.resolver = c.lan
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// configuredServers returns the servers named by Options.Servers or, when
// that is empty, by USHER_SERVER.
func configuredServers(opts Options) ([]string, error) {
	list, source := opts.Servers, "Options.Servers"
	if len(list) == 0 {
		list, source = splitList(opts.Getenv(EnvServer)), EnvServer
	}
	if len(list) == 0 {
		if opts.Resolver != nil || !opts.NoDiscovery {
			return nil, nil
		}
		return nil, usher.Errorf(usher.EInvalid, "no Usher server configured and discovery is off: set %s=host:port (for example 127.0.0.1:7420) or Options.Servers", EnvServer)
	}
	out, err := normalizeServers(list)
	if err != nil {
		return nil, usher.Errorf(usher.EInvalid, "%s: %v", source, err)
	}
	return out, nil
}

// ClientID returns the identity this client sends with every checkout.
func (c *Client) ClientID() string { return c.identity.ID }

// Server returns the server the client uses now: the one that answered
// last, or "" before any did.
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// Close releases every lease the client holds, stops its goroutines and
// closes its idle connections. A lease the server no longer had (kicked
// or expired) is not an error here. Waiting checkouts return ErrClosed. It is
// safe to call twice; the second call does nothing.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	held := make([]*Lease, 0, len(c.leases))
	for _, l := range c.leases {
		held = append(held, l)
	}
	c.mu.Unlock()

	c.cancel() // stops heartbeats and ends checkouts under way
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestTimeout)
	defer cancel()
	errs := make([]error, len(held))
	var wg sync.WaitGroup
	for i, l := range held {
		wg.Go(func() {
			if err := l.Release(ctx); !errors.Is(err, usher.ErrLeaseNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	c.wg.Wait()
	c.http.CloseIdleConnections()
	return errors.Join(errs...)
}

// emit reports an event to Options.OnEvent.
func (c *Client) emit(ev Event) {
	if c.opts.OnEvent != nil {
		ev.Time = time.Now()
		c.opts.OnEvent(ev)
	}
}

// track registers a lease as held, refusing a second one for the feature.
func (c *Client) track(l *Lease) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.leases[l.feature] != nil {
		return usher.Errorf(usher.EInvalid, "this client already holds or is checking out feature %s: use that lease, or release it first", l.feature)
	}
	c.leases[l.feature] = l
	return nil
}

// forget removes a lease that ended.
func (c *Client) forget(l *Lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leases[l.feature] == l {
		delete(c.leases, l.feature)
	}
}
