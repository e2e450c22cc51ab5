package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/sqlite"
)

// server is the server under load: remote, in process, or a child process.
type server struct {
	url   string
	token string
	pid   int    // the server's process, 0 if unknown
	kind  string // how it runs, for the report
	tmp   string // spawned: the temporary directory, removed on close
	data  string // spawned: the data directory
	pub   string // spawned: the vendor public key file
	opts  spawnOpts

	daemon *daemon.Daemon // in process
	child  *child         // child process
	http   *http.Server   // the bare handler
	served chan struct{}  // closed when the bare handler's Serve returns
}

type spawnOpts struct {
	keepalive time.Duration
	argv      []string
}

func (s *server) describe() string {
	if s.kind == "" {
		return s.url
	}
	return s.kind
}

// spawn starts a throwaway server on 127.0.0.1:0 with a fresh vendor key
// and a license for cfg.Seats seats of cfg.Feature.
func spawn(ctx context.Context, cfg Config, asChild bool) (_ *server, err error) {
	tmp, err := os.MkdirTemp("", "usher-bench-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory for the spawned server: %w", err)
	}
	s := &server{tmp: tmp, data: filepath.Join(tmp, "data"), pub: filepath.Join(tmp, "vendor.pub"),
		opts: spawnOpts{keepalive: cfg.Keepalive, argv: cfg.ServerCommand}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	keyPath := filepath.Join(tmp, "vendor.key")
	if err := daemon.WriteVendorKeys(keyPath, s.pub); err != nil {
		return nil, err
	}
	text, err := signLicense(keyPath, cfg.Feature, cfg.Seats)
	if err != nil {
		return nil, err
	}
	if asChild {
		err = s.startChild(ctx)
	} else {
		err = s.startInProcess(ctx)
	}
	if err != nil {
		return nil, err
	}
	api, err := s.api()
	if err != nil {
		return nil, err
	}
	if _, err := api.AddLicense(ctx, text); err != nil {
		return nil, fmt.Errorf("load the bench license into the spawned server: %w", err)
	}
	return s, nil
}

// api returns a client of the server's API.
func (s *server) api() (*apiclient.Client, error) {
	return apiclient.New(apiclient.Config{Servers: []string{s.url}, Token: s.token})
}

func signLicense(keyPath, feature string, seats int) ([]byte, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "usher bench", IssuedAt: time.Now(),
		Grants: []usher.Grant{{Feature: feature, Seats: seats}}}
	return usher.Sign(lic, priv)
}

// config returns the spawned server's configuration.
func (s *server) config() daemon.Config {
	cfg := daemon.DefaultConfig()
	cfg.Data = s.data
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.VendorKey = []string{s.pub}
	cfg.KeepaliveTimeout = daemon.Duration(s.opts.keepalive)
	cfg.KeepaliveScanInterval = daemon.Duration(min(s.opts.keepalive, daemon.DefaultKeepaliveScanInterval))
	return cfg
}

func (s *server) startInProcess(ctx context.Context) error {
	cfg := s.config()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("spawned server: %w", err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{})
	if err != nil {
		return fmt.Errorf("start the spawned server: %w", err)
	}
	s.daemon, s.url, s.kind, s.pid = d, d.URL(), "spawned in process", os.Getpid()
	return s.readToken()
}

func (s *server) readToken() error {
	tok, err := os.ReadFile(filepath.Join(s.data, daemon.TokenFile))
	if err != nil {
		return fmt.Errorf("read the spawned server's admin token: %w", err)
	}
	s.token = strings.TrimSpace(string(tok))
	return nil
}

// startChild runs `usher server` on the data directory and waits for its
// banner, which it prints once the store is loaded and it listens.
func (s *server) startChild(ctx context.Context) error {
	cfg := s.config()
	args := append(s.opts.argv[1:len(s.opts.argv):len(s.opts.argv)],
		"--data", cfg.Data, "--listen", cfg.Listen[0], "--vendor-key", cfg.VendorKey[0],
		"--keepalive-timeout", time.Duration(cfg.KeepaliveTimeout).String(),
		"--keepalive-scan-interval", time.Duration(cfg.KeepaliveScanInterval).String())
	c, url, err := startChild(ctx, s.opts.argv[0], args)
	if err != nil {
		return err
	}
	s.child, s.url, s.kind, s.pid = c, url, "spawned as child process", c.cmd.Process.Pid
	return s.readToken()
}

// stopServer stops the spawned server and keeps its data directory.
func (s *server) stopServer() error {
	var err error
	if s.daemon != nil {
		err = s.daemon.Close()
		s.daemon = nil
	}
	if s.child != nil {
		err = errors.Join(err, s.child.stop())
		s.child = nil
	}
	if s.http != nil {
		err = errors.Join(err, s.http.Close())
		<-s.served
		s.http = nil
	}
	return err
}

// close stops the server and removes a spawned server's files.
func (s *server) close() error {
	err := s.stopServer()
	if s.tmp != "" {
		err = errors.Join(err, os.RemoveAll(s.tmp))
		s.tmp = ""
	}
	return err
}

// storeBytes returns the size of a spawned server's database and log.
func (s *server) storeBytes() int64 {
	if s.data == "" {
		return 0
	}
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(filepath.Join(s.data, sqlite.FileName+suffix)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// child is a server running as a child process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
	wg   sync.WaitGroup
}

// bannerPrefix starts the line `usher server` prints once it serves.
const bannerPrefix = "Usher is serving licenses at "

func startChild(ctx context.Context, path string, args []string) (*child, string, error) {
	cmd := exec.Command(path, args...)
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start the server process %s: %w", path, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.scan(stderr, urls)
	}()
	go func() {
		defer c.wg.Done()
		c.err = cmd.Wait()
		close(c.done)
	}()
	timer := time.NewTimer(2 * time.Minute)
	defer timer.Stop()
	select {
	case url := <-urls:
		return c, url, nil
	case <-c.done:
		err = fmt.Errorf("the server process exited before serving: %v", c.err)
	case <-timer.C:
		err = errors.New("the server process did not start serving within 2m")
	case <-ctx.Done():
		err = ctx.Err()
	}
	return nil, "", errors.Join(err, c.stop())
}

// scan reads the child's stderr: it hands over the URL from the banner and
// then drains the rest so that the child never blocks on a full pipe.
func (c *child) scan(r io.Reader, urls chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), bannerPrefix); ok {
			urls <- strings.TrimSpace(url)
			break
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// stop asks the process to shut down and kills it if it has not within
// 30 seconds.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.wg.Wait()
	var exit *exec.ExitError
	if errors.As(c.err, &exit) && !exit.Exited() {
		return nil // ended by our signal
	}
	return c.err
}

// startBare serves a fixed JSON answer, shaped like a heartbeat's, on
// 127.0.0.1:0.
func startBare() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the bare handler: %w", err)
	}
	body := []byte(`{"id":"ls_000000000000000000000000","expires_at":"2030-01-01T00:00:00Z"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s := &server{url: "http://" + ln.Addr().String(), kind: "bare handler in process", http: srv, pid: os.Getpid(), served: make(chan struct{})}
	go func() {
		defer close(s.served)
		_ = srv.Serve(ln)
	}()
	return s, nil
}
