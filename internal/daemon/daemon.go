package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/cluster"
	"github.com/usher-lm/usher/internal/etcdstore"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/metrics"
	"github.com/usher-lm/usher/internal/sqlite"
)

// TokenFile is the admin token's file inside the data directory.
const TokenFile = "admin.token"

// Daemon is a running Usher server.
type Daemon struct {
	cfg       Config
	logger    *slog.Logger
	store     *sqlite.Store
	member    *cluster.Member   // cluster mode with embedded etcd
	etcd      *clientv3.Client  // cluster mode
	shared    *etcdstore.Shared // cluster mode: users, API tokens, settings
	servers   []*http.Server
	listeners []net.Listener
	tls       *tls.Config // nil: plain HTTP
	tlsPrint  string      // SHA-256 fingerprint of the TLS certificate

	// Observability and administration; see admin.go.
	opts    Options
	events  *eventlog.Log
	metrics *metrics.Metrics
	rt      runtimeState

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
}

// Start opens the data directory and store, and serves the API on every
// listen address until Close. cfg must be validated.
func Start(ctx context.Context, cfg Config, opts Options) (_ *Daemon, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := secureDataDir(cfg.Data, opts.Logger); err != nil {
		return nil, err
	}
	keys, err := loadKeyring(vendorKeys(cfg))
	if err != nil {
		return nil, err
	}
	token, err := ensureToken(cfg.Data, opts.Logger)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, logger: opts.Logger, opts: opts}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.initRuntime(opts.Now)
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	// The local store keeps leases, users, API tokens and runtime
	// settings of a single node. In a cluster, etcd keeps them all.
	if d.store, err = sqlite.OpenOptions(cfg.Data, sqlite.Options{Logger: d.logger}); err != nil {
		return nil, err
	}
	var settings SettingsStore = d.store
	if cfg.ClusterMode() {
		if token, err = d.joinCluster(ctx, token); err != nil {
			return nil, err
		}
		settings = d.shared
	}
	if err := d.openObservability(ctx, settings); err != nil {
		return nil, err
	}
	d.events.Record(usher.Event{Type: eventlog.EventServerStarted, Reason: "version " + opts.Version + d.onNode()})
	authority, err := d.openAuth(ctx, token, opts.Now)
	if err != nil {
		return nil, err
	}
	if d.tls, d.tlsPrint, err = serverTLS(cfg); err != nil {
		return nil, err
	}
	newAPI := func(led *usher.Ledger) http.Handler {
		if cfg.ClusterMode() {
			// This node starts to decide: take the users and tokens
			// that others changed meanwhile.
			if err := authority.Reload(d.ctx); err != nil {
				d.logger.Error("reload users and API tokens from etcd", "err", err)
			}
		}
		return d.metrics.InstrumentHandler(httpapi.NewServer(d.apiConfig(led, authority, opts.Now)))
	}
	if cfg.ClusterMode() {
		if err := d.startNode(keys, token, newAPI); err != nil {
			return nil, err
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.shared.WatchSettings(d.ctx, d.applyShared)
		}()
		go d.watchShutdown()
		return d, nil
	}
	led, err := usher.OpenLedger(ctx, usher.LedgerConfig{
		Store: d.metrics.InstrumentStore(d.store), Keyring: keys, KeepaliveTimeout: time.Duration(d.cfg.KeepaliveTimeout),
		Now: opts.Now, Logger: opts.Logger, Observer: d.observer(),
	})
	if err != nil {
		return nil, err
	}
	d.rt.ledger.Store(led)
	if cfg.Dev {
		if err := d.addDemoLicense(ctx); err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
	}
	api := newAPI(led)
	if err := d.bind(); err != nil {
		return nil, err
	}
	d.serve(api)
	d.wg.Add(1)
	go d.sweep(time.Duration(d.cfg.KeepaliveScanInterval))
	go d.watchShutdown()
	return d, nil
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

// sweep reclaims expired leases every interval until Close.
func (d *Daemon) sweep(interval time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case iv := <-d.rt.scan:
			t.Reset(iv)
			continue
		case <-t.C:
		}
		ended, err := d.Ledger().Reclaim(d.ctx)
		if err != nil {
			d.logger.Error("reclaim expired leases", "err", err)
		}
		for _, l := range ended {
			d.logger.Info("lease expired", "lease", l.ID, "feature", l.Feature, "client", l.Client.ID)
		}
	}
}

// Ledger returns the daemon's ledger. In cluster mode it is the ledger of
// the current term while this node decides, and nil otherwise.
func (d *Daemon) Ledger() *usher.Ledger {
	if n := d.rt.node.Load(); n != nil {
		return n.Ledger()
	}
	return d.rt.ledger.Load()
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

// onNode names this node in the events it records itself, in a cluster,
// whose nodes share one event log: ", node n1", or "" for a single node.
func (d *Daemon) onNode() string {
	if !d.cfg.ClusterMode() {
		return ""
	}
	return ", node " + d.cfg.NodeNameOrHost()
}

// nodeCloseTimeout is how long Close waits for the cluster node to stop
// before it closes the etcd connection under it.
const nodeCloseTimeout = 3 * time.Second

// Close stops accepting requests, ends those in flight (waiting checkouts
// give up), stops the sweeper and closes the store. Safe to call twice.
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
		if d.events != nil {
			d.events.Record(usher.Event{Type: eventlog.EventServerStopped, Reason: strings.TrimPrefix(d.onNode(), ", ")})
			err = errors.Join(err, d.events.Close())
		}
		if d.store != nil {
			err = errors.Join(err, d.store.Close())
		}
		etcdClosed := false
		if n := d.rt.node.Load(); n != nil {
			done := make(chan error, 1)
			go func() { done <- n.Close() }()
			select {
			case e := <-done:
				err = errors.Join(err, e)
			case <-time.After(nodeCloseTimeout):
				// An election cancelled while waiting resigns through etcd
				// without a deadline: without a quorum (the last node of a
				// cluster going down) only closing the client ends it.
				d.logger.Warn("cluster node still stopping: closing the etcd connection under it")
				err = errors.Join(err, d.etcd.Close(), <-done)
				etcdClosed = true
			}
		}
		if d.etcd != nil && !etcdClosed {
			err = errors.Join(err, d.etcd.Close())
		}
		if d.member != nil {
			d.member.Close()
		}
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

// ensureToken returns the admin token, creating it on first start. The
// token itself is never logged.
func ensureToken(dir string, logger *slog.Logger) (string, error) {
	path := filepath.Join(dir, TokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	logger.Info("created admin token", "file", path)
	return tok, nil
}
