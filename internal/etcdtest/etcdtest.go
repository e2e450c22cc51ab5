// Package etcdtest starts etcd for tests: embedded members on loopback
// ports in the test process, or the etcd binary as an external server.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/usher-lm/usher/internal/cluster"
)

// FreePorts returns n distinct loopback ports that were free a moment ago:
// all are held open until the last is chosen, so none repeats.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Cluster is a set of embedded members started by MustStartCluster.
type Cluster struct {
	tb      testing.TB
	Name    string            // cluster name
	Peers   map[string]string // member name to peer URL
	configs map[string]cluster.MemberConfig

	mu      sync.Mutex
	members map[string]*cluster.Member // running members
}

// MemberName returns the name of member i.
func MemberName(i int) string { return fmt.Sprintf("n%d", i+1) }

// MustStartCluster starts n embedded members on loopback ports with data
// in temporary directories, and stops them when the test ends. Raft runs
// with a 50 ms tick and a 500 ms election timeout.
func MustStartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, Name: "test", Peers: map[string]string{}, configs: map[string]cluster.MemberConfig{}, members: map[string]*cluster.Member{}}
	ports := FreePorts(tb, 2*n)
	for i := range n {
		name := MemberName(i)
		peer := fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		c.Peers[name] = "http://" + peer
		c.configs[name] = cluster.MemberConfig{
			Name: name, Dir: filepath.Join(tb.TempDir(), "etcd"), Cluster: c.Name, PeerListen: peer,
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			Peers:     c.Peers, TickMs: 50, ElectionMs: 500,
		}
	}
	errs := make(chan error, n)
	for name := range c.configs {
		go func() { errs <- c.Start(name) }()
	}
	for range n {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(c.Close)
	return c
}

// Start starts (or restarts, from its data) member name.
func (c *Cluster) Start(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := cluster.StartMember(ctx, c.configs[name])
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.members[name] = m
	c.mu.Unlock()
	return nil
}

// Kill stops member name abruptly, as kill -9 would.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	m := c.members[name]
	delete(c.members, name)
	c.mu.Unlock()
	if m != nil {
		m.Kill()
	}
}

// ClientURL returns the etcd client URL of member name.
func (c *Cluster) ClientURL(name string) string { return c.configs[name].ClientURL }

// Client returns a client of member name only, closed when the test ends.
func (c *Cluster) Client(name string) *clientv3.Client {
	return MustClient(c.tb, []string{c.ClientURL(name)})
}

// Close stops every running member.
func (c *Cluster) Close() {
	c.mu.Lock()
	ms := c.members
	c.members = map[string]*cluster.Member{}
	c.mu.Unlock()
	for _, m := range ms {
		m.Close()
	}
}

// MustClient returns an etcd client of endpoints, closed when the test
// ends.
func MustClient(tb testing.TB, endpoints []string) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// EtcdBinary returns the path of the etcd server binary: etcd on PATH,
// else /usr/bin/etcd. When there is none, the test is skipped, or fails
// if USHER_REQUIRE_ETCD=1.
func EtcdBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd"
	}
	msg := "no etcd binary on PATH or at /usr/bin/etcd: install the etcd-server package to run the external etcd tests"
	if os.Getenv("USHER_REQUIRE_ETCD") == "1" {
		tb.Fatal(msg + " (USHER_REQUIRE_ETCD=1 makes this a failure)")
	}
	tb.Skip(msg)
	return ""
}

// StartExternal runs the etcd binary as a one-member cluster on loopback
// ports with data in a temporary directory, and returns its client URL.
// The process is killed when the test ends.
func StartExternal(tb testing.TB) string {
	tb.Helper()
	bin := EtcdBinary(tb)
	dir := tb.TempDir()
	ports := FreePorts(tb, 2)
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin, "--name", "ext", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "ext="+peer, "--initial-cluster-state", "new")
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtimeArch())
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	cli := MustClient(tb, []string{client})
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return client
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			tb.Fatalf("external etcd at %s did not answer within 15s: %v\n%s", client, err, log)
		}
		time.Sleep(100 * time.Millisecond) // polling an external process
	}
}

func runtimeArch() string { return runtime.GOARCH }

// IgnoredGoroutines lists goroutines that etcd leaves behind for a
// moment after a member closes (peer connections it lets drain on their
// own), and those its libraries keep for the life of the process.
func IgnoredGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("github.com/soheilhy/cmux.(*MuxConn).Read"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).abortPendingRead"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp.(*streamReader).run"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/storage/backend.(*baseReadTx).UnsafeRange"),
	}
}

// VerifyNoLeaks runs the tests of a package and then checks for leaked
// goroutines, after closing the idle connections of the default HTTP
// transport that test clients use. Call it from TestMain.
func VerifyNoLeaks(m *testing.M) {
	code := m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(IgnoredGoroutines()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
