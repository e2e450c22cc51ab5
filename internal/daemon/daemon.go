package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/metrics"
	"github.com/usher-lm/usher/internal/relay"
)

// TokenFile is the admin token's file inside the data directory.
const TokenFile = "admin.token"

// Daemon is a running Usher server: a node of a cluster, which may have
// only this one member. Every node runs the same code; what differs is the
// backing it runs on (see backing).
type Daemon struct {
	cfg       Config
	logger    *slog.Logger
	keys      *usher.Keyring
	back      *backing
	api       *httpapi.Server
	authority *auth.Authority
	servers   []*http.Server
	listeners []net.Listener
	tls       *tls.Config    // nil: plain HTTP
	tlsPrint  string         // SHA-256 fingerprint of the TLS certificate
	ident     *identity      // see identity.go
	clock     *clockWatch    // see clockwatch.go
	lock      io.Closer      // the data directory's lock; see datalock.go
	disc      discoveryState // see discovery.go

	// Observability and administration; see admin.go.
	opts    Options
	events  *eventlog.Log
	metrics *metrics.Metrics
	rt      runtimeState
	pol     policyState  // see policy.go
	relay   *relay.Relay // nil unless upstream is set; see relay.go

	ctx    context.Context // cancelled on Close; parent of every request
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Options are the parts of a daemon that are not configuration.
type Options struct {
	Logger *slog.Logger     // default discards
	Now    func() time.Time // default time.Now

	Version  string                 // reported by info and the usher_build_info metric
	LogLevel *slog.LevelVar         // if set, log_level changes at runtime set it
	Reload   func() (Config, error) // loads the configuration again, for reload and SIGHUP

	// Events, if set, changes the event log's options before it opens;
	// a Backend it sets replaces events.db or etcd. Tests inject faults
	// through it.
	Events func(*eventlog.Options)

	// HostTraits, if set, replaces usher.ReadHostTraits: tests vary the host
	// through it.
	HostTraits func() usher.HostTraits

	// ClockInterval, if set, replaces DefaultClockInterval: how often the
	// clock is checked for being set back (clockwatch.go).
	ClockInterval time.Duration

	// HardwareKeyTicks, if set, replaces the ticker of hardware_key_poll:
	// the hardware key is checked at each of its ticks.
	HardwareKeyTicks <-chan time.Time

	// RenewalTick, if set, replaces the minute ticker on which the node
	// that decides fetches the renewals of checkpoint licenses.
	RenewalTick <-chan time.Time

	// UpstreamFinder finds a relay's upstream when upstream is auto;
	// default the servers on the LAN but this one, as usher discover
	// finds them (docs/discovery.md).
	UpstreamFinder relay.Finder
	// RelayTicks, if set, replaces the relay's ticker (relay.TickInterval):
	// its blocks are renewed and resized at each of its ticks.
	RelayTicks <-chan time.Time
}

// startWait bounds how long Start waits to learn which node decides.
const startWait = 30 * time.Second

// Start opens the data directory and the backing (a single node's store,
// or the cluster's etcd), serves the API on every listen address, and runs
// this node until Close. It returns once the node knows who decides: at
// once for a single node, after the first election in a new cluster. cfg
// must be validated.
func Start(ctx context.Context, cfg Config, opts Options) (_ *Daemon, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := secureDataDir(cfg.Data, opts.Logger); err != nil {
		return nil, err
	}
	lock, err := lockDataDir(cfg.Data)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, logger: opts.Logger, opts: opts, lock: lock}
	if d.keys, err = loadKeyring(vendorKeys(cfg)); err != nil {
		lock.Close()
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.initRuntime(opts.Now)
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.tls, d.tlsPrint, err = serverTLS(cfg); err != nil {
		return nil, err
	}
	if err := d.bind(); err != nil {
		return nil, err
	}
	open := d.openLocal
	if cfg.ClusterMode() {
		open = d.openCluster
	}
	if d.back, err = open(ctx); err != nil {
		return nil, err
	}
	token, err := d.sharedToken(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.openObservability(ctx, d.back.settings); err != nil {
		return nil, err
	}
	if err := d.startPolicy(ctx); err != nil {
		return nil, err
	}
	d.events.Record(usher.Event{Type: eventlog.EventServerStarted, Reason: "version " + opts.Version + d.onNode()})
	if d.authority, err = d.openAuth(ctx, token, opts.Now); err != nil {
		return nil, err
	}
	if err := d.startIdentity(ctx); err != nil { // identity.go
		return nil, err
	}
	if err := d.startSession(); err != nil { // session.go
		return nil, err
	}
	d.startDiscovery()                     // discovery.go
	if err := d.startRelay(); err != nil { // relay.go
		return nil, err
	}
	if err := d.startClock(ctx); err != nil { // clockwatch.go
		return nil, err
	}
	if err := d.run(ctx); err != nil {
		return nil, err
	}
	go d.watchShutdown()
	return d, nil
}

// sharedToken returns the admin token: this node's, or the cluster's when
// another node made one first.
func (d *Daemon) sharedToken(ctx context.Context) (string, error) {
	token, created, err := ensureToken(d.cfg.Data)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	shared, err := d.back.share(cctx, "admin_token", token)
	if err != nil {
		return "", err
	}
	switch {
	case shared != token:
		if err := os.WriteFile(d.TokenPath(), []byte(shared+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write the cluster's admin token: %w", err)
		}
		d.logger.Info("adopted the cluster's admin token", "file", d.TokenPath())
	case created:
		d.logger.Info("created admin token", "file", d.TokenPath())
	}
	return shared, nil
}

// bind listens on every listen address.
func (d *Daemon) bind() error {
	addrs := d.cfg.Listen
	if len(addrs) == 0 {
		addrs = []string{DefaultListen}
	}
	limits := newConnLimits(d.cfg, d.logger) // connlimit.go
	for _, addr := range addrs {
		tcp, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		var ln net.Listener = &idleListener{Listener: &limitListener{Listener: tcp, limits: limits}, timeout: &d.rt.idle}
		if d.tls != nil {
			ln = tls.NewListener(ln, d.tls)
		}
		d.listeners = append(d.listeners, ln)
	}
	return nil
}

// serve serves h on every listener until Close.
func (d *Daemon) serve(h http.Handler) {
	for _, ln := range d.listeners {
		srv := &http.Server{
			Handler:           limitBody(h, d.readTimeout()), // connlimit.go
			ReadHeaderTimeout: time.Duration(d.cfg.ReadHeaderTimeout),
			ConnState:         trackIdle, // connection_timeout; see idle.go
			BaseContext:       func(net.Listener) context.Context { return d.ctx },
			ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelDebug),
		}
		d.servers = append(d.servers, srv)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.logger.Error("serve", "addr", ln.Addr().String(), "err", err)
			}
		}()
		d.logger.Info("listening", "addr", ln.Addr().String())
	}
}

// Addrs returns the addresses the daemon listens on.
func (d *Daemon) Addrs() []net.Addr {
	out := make([]net.Addr, len(d.listeners))
	for i, ln := range d.listeners {
		out[i] = ln.Addr()
	}
	return out
}

// URL returns the base URL of the first listener, for clients on this host.
func (d *Daemon) URL() string {
	addr := d.listeners[0].Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
		if addr.IP.To4() == nil {
			host = "::1"
		}
	}
	return d.scheme() + "://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// TokenPath returns where the admin token is.
func (d *Daemon) TokenPath() string { return filepath.Join(d.cfg.Data, TokenFile) }

// onNode names this node in the events it records itself when its
// backing shares one event log among nodes: ", node n1", or "".
func (d *Daemon) onNode() string {
	if d.back == nil || !d.back.sharedLog {
		return ""
	}
	return ", node " + d.cfg.NodeNameOrHost()
}

// Close stops accepting requests, ends those in flight (waiting checkouts
// give up), ends this node's term and closes the backing. Safe to call
// twice.
func (d *Daemon) Close() error {
	var err error
	d.once.Do(func() {
		d.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, srv := range d.servers {
			err = errors.Join(err, srv.Shutdown(ctx))
		}
		d.wg.Wait()
		d.stopRunner()
		d.closeDiscovery()
		err = errors.Join(err, d.closeRelay())
		if d.events != nil {
			d.events.Record(usher.Event{Type: eventlog.EventServerStopped, Reason: strings.TrimPrefix(d.onNode(), ", ")})
			err = errors.Join(err, d.events.Close())
		}
		if d.back != nil {
			err = errors.Join(err, d.back.close())
		}
		d.closeIdentity()
		err = errors.Join(err, d.lock.Close())
		close(d.rt.done)
	})
	return err
}

// loadKeyring reads the vendor public keys.
func loadKeyring(paths []string) (*usher.Keyring, error) {
	var pubs []ed25519.PublicKey
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("vendor_key: %w", err)
		}
		pub, err := usher.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("vendor_key %s: %w", p, err)
		}
		pubs = append(pubs, pub)
	}
	return usher.NewKeyring(pubs...), nil
}

// ensureToken returns the admin token, creating it on first start; created
// says it did. A cluster node may then adopt the cluster's instead, so the
// caller logs which. The token itself is never logged.
func ensureToken(dir string) (tok string, created bool, err error) {
	path := filepath.Join(dir, TokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	tok = hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return tok, true, nil
}
