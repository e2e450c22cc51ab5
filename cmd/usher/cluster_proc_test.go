package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// procNode is one node of a cluster of server processes.
type procNode struct {
	name    string
	args    []string // the server's arguments
	wrap    []string // a command that runs the server, such as ip netns exec NS
	data    string
	api     string // where the test reaches its API
	http    *http.Client
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stderr  strings.Builder
	started chan struct{} // closed when it logs that it listens
}

// procCluster is a cluster of usher server processes, each with an
// embedded etcd member.
type procCluster struct {
	t     *testing.T
	nodes []*procNode
	pub   string // vendor public key
	lic   string // a license file
}

// start starts node i's process and returns once it serves, or fails.
func (c *procCluster) start(i int) error {
	n := c.nodes[i]
	argv := append(append([]string{}, n.wrap...), os.Args[0], "server")
	argv = append(argv, n.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "USHER_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	started, exited := make(chan struct{}), make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.started = cmd, exited, started
	n.stderr.Reset()
	n.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.stderr.WriteString(line + "\n")
			n.mu.Unlock()
			if strings.Contains(line, "msg=listening") {
				once.Do(func() { close(started) })
			}
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case <-started:
		return nil
	case <-exited:
		return fmt.Errorf("%s exited before serving:\n%s", n.name, n.log())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s did not serve within 60s:\n%s", n.name, n.log())
	}
}

func (n *procNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// kill9 kills node i's process with SIGKILL and waits for it to end.
func (c *procCluster) kill9(i int) {
	n := c.nodes[i]
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop kills every node: their data is the test's to throw away, and
// the last nodes of a cluster cannot stop gracefully without a quorum.
func (c *procCluster) stop() {
	for i := range c.nodes {
		c.kill9(i)
	}
}

// startLicensed starts the cluster, waits for a node to decide, adds the
// license through it and returns its index.
func (c *procCluster) startLicensed() int {
	c.t.Helper()
	startProcCluster(c.t, c)
	dec, err := c.decider(20 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	err = retryUnavailable(10*time.Second, func() error {
		_, err := c.client(dec).AddLicense(context.Background(), mustRead(c.t, c.lic))
		return err
	})
	if err != nil {
		c.t.Fatalf("add license: %v", err)
	}
	return dec
}

// startProcCluster starts the nodes at once (a member serves only once a
// majority is up) and stops them when the test ends.
func startProcCluster(t *testing.T, c *procCluster) {
	t.Helper()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() || os.Getenv("USHER_TEST_LOG") != "" {
			for _, n := range c.nodes {
				t.Logf("log of %s:\n%s", n.name, n.log())
			}
		}
	})
	errs := make(chan error, len(c.nodes))
	for i := range c.nodes {
		go func() { errs <- c.start(i) }()
	}
	var err error
	for range c.nodes {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// client returns an admin client of node i: every node has the cluster's
// admin token in its data directory.
func (c *procCluster) client(i int) *apiclient.Client {
	c.t.Helper()
	return c.clientWithin(i, 5*time.Second)
}

// clientWithin is client with each request bounded by timeout.
func (c *procCluster) clientWithin(i int, timeout time.Duration) *apiclient.Client {
	c.t.Helper()
	n := c.nodes[i]
	tok, err := os.ReadFile(filepath.Join(n.data, "admin.token"))
	if err != nil {
		c.t.Fatal(err)
	}
	cl, err := apiclient.New(apiclient.Config{Servers: []string{n.api}, Token: strings.TrimSpace(string(tok)), HTTPClient: n.http, RequestTimeout: timeout})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// decider asks the nodes which one decides, until one knows.
func (c *procCluster) decider(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		for i := range c.nodes {
			st, err := c.client(i).ClusterStatus(context.Background())
			if err != nil || st.Decider == "" {
				continue
			}
			for j, n := range c.nodes {
				if n.name == st.Decider {
					return j, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return -1, errors.New("no node decides")
		}
		time.Sleep(100 * time.Millisecond) // polling
	}
}

// retryUnavailable calls fn until it returns anything but an unavailable
// error or a failed connection, or the time is up.
func retryUnavailable(within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if code := usher.ErrorCode(err); code != usher.EUnavailable && code != usher.EInternal {
			return err
		}
		time.Sleep(50 * time.Millisecond) // backing off between polls
	}
}

func procCheckout(ctx context.Context, cl *apiclient.Client, client string) (string, error) {
	l, _, err := cl.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: client}})
	return l.ID, err
}

// newLoopbackCluster describes three nodes on loopback ports.
func newLoopbackCluster(t *testing.T, seats int) *procCluster {
	_, pub, lic := vendorFixture(t, fmt.Sprintf("cad=%d", seats))
	c := &procCluster{t: t, pub: pub, lic: lic}
	ports := etcdtest.FreePorts(t, 9)
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("n%d=http://127.0.0.1:%d", i+1, ports[3*i+1]))
	}
	for i := range 3 {
		n := &procNode{name: fmt.Sprintf("n%d", i+1), data: t.TempDir(), api: fmt.Sprintf("http://127.0.0.1:%d", ports[3*i])}
		n.args = []string{"--data", n.data, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[3*i]), "--vendor-key", pub,
			"--cluster-name", "proc", "--node-name", n.name,
			"--peer-listen", fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]), "--etcd-client-listen", fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
			"--peers", strings.Join(peers, ","), "--keepalive-scan-interval", "1s"}
		c.nodes = append(c.nodes, n)
	}
	return c
}

// TestClusterKill9UnderLoad runs three server processes, kills the
// deciding one with SIGKILL while clients check out and release through
// every node, and checks what the cluster promises: no acknowledged lease
// is lost, no seat is over-allocated, checkouts succeed again through the
// other nodes (it logs how soon), and the killed node rejoins when
// restarted.
func TestClusterKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes")
	}
	const seats = 40
	c := newLoopbackCluster(t, seats)
	dec := c.startLicensed()
	ctx := context.Background()

	// Clients hold a seat each, and others check out and release in a
	// loop through every node, until told to stop.
	var mu sync.Mutex
	held := map[string]bool{} // acknowledged and not released
	var pairs, kept atomic.Int64
	for i := range 6 {
		id, err := procCheckout(ctx, c.client(i%3), fmt.Sprint("holder-", i))
		if err != nil {
			t.Fatalf("checkout: %v", err)
		}
		held[id] = true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 100000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cl := c.client((w + n) % 3)
				id, err := procCheckout(ctx, cl, fmt.Sprintf("churn-%d-%d", w, n))
				if err != nil {
					continue // a refusal, or a node that is down
				}
				mu.Lock()
				held[id] = true
				mu.Unlock()
				if n%10 == 0 && kept.Add(1) <= 10 {
					continue // some leases stay, through the kill
				}
				// A release whose answer is lost may have applied: the
				// lease is no longer known to be held either way.
				err = cl.Release(ctx, id)
				mu.Lock()
				delete(held, id)
				mu.Unlock()
				if err == nil {
					pairs.Add(1)
				}
			}
		}()
	}
	waitPairs := func(n int64) {
		ushertest.WaitFor(t, 20*time.Second, 10*time.Millisecond, func() error {
			if got := pairs.Load(); got < n {
				return fmt.Errorf("only %d checkout+release pairs, want %d", got, n)
			}
			return nil
		})
	}
	waitPairs(50)
	if st, err := c.client(dec).ClusterStatus(ctx); err == nil {
		t.Logf("killing %s, which decides; %s leads etcd", st.Decider, st.EtcdLeader)
	}
	c.kill9(dec)
	killed := time.Now()
	t.Logf("killed at %s", killed.UTC().Format("15:04:05.000"))
	other := (dec + 1) % 3
	err := retryUnavailable(30*time.Second, func() error {
		id, err := procCheckout(ctx, c.client(other), "after-kill")
		if err == nil {
			mu.Lock()
			held[id] = true
			mu.Unlock()
		}
		return err
	})
	failover := time.Since(killed)
	if err != nil {
		t.Fatalf("checkout through node %d after killing node %d: %v", other, dec, err)
	}
	// Logged, not asserted: on a loaded test machine the time says
	// little. docs/benchmarks.md measures it against the 5 s target.
	t.Logf("first checkout through another node %v after kill -9", failover.Round(time.Millisecond))
	waitPairs(pairs.Load() + 50) // the load goes on through the survivors
	close(stop)
	wg.Wait()

	if err := c.start(dec); err != nil {
		t.Fatalf("restart node %d: %v", dec, err)
	}
	var leases []usher.Lease
	err = retryUnavailable(10*time.Second, func() (err error) {
		leases, err = c.client(dec).Leases(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("leases through the restarted node: %v", err)
	}
	if len(leases) > seats {
		t.Fatalf("%d leases of %d seats", len(leases), seats)
	}
	got := map[string]bool{}
	for _, l := range leases {
		got[l.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range held {
		if !got[id] {
			t.Errorf("acknowledged lease %s is lost", id)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
