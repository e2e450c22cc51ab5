package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
)

// kind is one type of request; each has its own latency histogram.
type kind int

const (
	kindCheckout kind = iota
	kindRelease
	kindHeartbeat
	kindBare
	numKinds
)

var kindNames = [numKinds]string{"checkout", "release", "heartbeat", "bare"}

// Error keys that are not server error codes.
const (
	errTransport = "transport" // the request got no HTTP answer
	errCancelled = "cancelled" // the run ended first; not counted
)

// target is the server under load, and how to reach it: every worker
// dials its own keep-alive connection, so N logical clients share at most
// as many sockets as there are workers.
type target struct {
	addr    string      // host:port
	tls     *tls.Config // nil for http://
	head    []byte      // request headers every request carries
	token   string
	feature string
	runID   string // makes client ids unique to this run
}

func newTarget(rawURL, token, feature, runID string) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %q is not an http:// URL: use --server http://HOST:PORT or --spawn", rawURL)
	}
	t := &target{addr: u.Host, token: token, feature: feature, runID: runID}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	h := "Host: " + u.Host + "\r\nUser-Agent: usher-bench\r\nContent-Type: application/json\r\n"
	if token != "" {
		h += "Authorization: Bearer " + token + "\r\n"
	}
	t.head = []byte(h + "Content-Length: ")
	return t, nil
}

// worker is one goroutine of the load generator. It owns its connection,
// histograms, error counts and buffers, so the hot path shares nothing but
// the progress counter.
type worker struct {
	id    int
	t     *target
	conn  *conn
	hist  [numKinds]Histogram
	errs  map[string]int64
	body  []byte        // request body scratch
	path  []byte        // request path scratch
	ops   *atomic.Int64 // shared progress counter
	calls int64         // requests answered
	due   time.Time     // open loop: when the next request was due

	// What this worker may have left held: clients whose checkout got no
	// answer, and leases whose release failed. run.giveBack returns them.
	unsure     []int
	unreleased []string
}

func newWorker(id int, t *target, ops *atomic.Int64) *worker {
	return &worker{id: id, t: t, conn: newConn(t.addr, t.tls, t.head), errs: make(map[string]int64), ops: ops,
		body: make([]byte, 0, 256), path: make([]byte, 0, 64)}
}

// clientID returns the id of logical client i of this run.
func (t *target) clientID(i int) string { return "bench-" + t.runID + "-" + strconv.Itoa(i) }

// checkoutBody writes the JSON body of a checkout for logical client i
// into the worker's scratch buffer, without encoding anything at run time.
func (w *worker) checkoutBody(i int) []byte {
	b := append(w.body[:0], `{"feature":"`...)
	b = append(b, w.t.feature...)
	b = append(b, `","client":{"id":"bench-`...)
	b = append(b, w.t.runID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","user":"bench","host":"bench"}}`...)
	w.body = b
	return b
}

// leasePath writes /v1/leases/LEASE and then suffix into the worker's
// path scratch.
func (w *worker) leasePath(lease, suffix string) []byte {
	w.path = append(append(append(w.path[:0], "/v1/leases/"...), lease...), suffix...)
	return w.path
}

// do sends one request and reads the whole answer into w.conn.body. It
// returns the status, or an error key: the server's error code, or
// "transport".
func (w *worker) do(ctx context.Context, method string, path, body []byte, k kind) (int, string) {
	start := time.Now()
	if !w.due.IsZero() && w.due.Before(start) {
		start = w.due // open loop: count the wait for a late slot too
	}
	w.due = time.Time{}
	status, code := w.roundTrip(ctx, method, path, body)
	if code == errTransport && ctx.Err() != nil {
		return status, errCancelled // the run ended under this request
	}
	w.finish(k, time.Since(start), code)
	return status, code
}

func (w *worker) roundTrip(ctx context.Context, method string, path, body []byte) (int, string) {
	if err := w.conn.roundTrip(ctx, method, path, body); err != nil {
		return 0, errTransport
	}
	if w.conn.status >= 400 {
		return w.conn.status, errorCode(w.conn.body, w.conn.status)
	}
	return w.conn.status, ""
}

// finish records one answered request.
func (w *worker) finish(k kind, d time.Duration, code string) {
	w.calls++
	w.ops.Add(1)
	if code != "" {
		w.errs[code]++
		return
	}
	w.hist[k].Record(d)
}

// errorCode pulls the "code" of an Usher error body, or names the status.
func errorCode(body []byte, status int) string {
	if v := jsonString(body, `"code":"`); v != "" {
		return v
	}
	return "http_" + strconv.Itoa(status)
}

// jsonString returns the string value after key in a flat JSON answer.
// Usher's answers put the lease id first, so this is exact for the few
// fields read here and spares a decode per request.
func jsonString(body []byte, key string) string {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

var leasesPath = []byte("/v1/leases")

// checkout takes a seat for logical client i and returns the lease id.
func (w *worker) checkout(ctx context.Context, i int) (string, bool) {
	status, code := w.do(ctx, "POST", leasesPath, w.checkoutBody(i), kindCheckout)
	if code == errTransport || code == errCancelled {
		w.unsure = append(w.unsure, i) // the server may have granted it
	}
	if code != "" || (status != 201 && status != 200) {
		return "", false
	}
	id := jsonString(w.conn.body, `"id":"`)
	return id, id != ""
}

func (w *worker) release(ctx context.Context, lease string) bool {
	_, code := w.do(ctx, "DELETE", w.leasePath(lease, ""), nil, kindRelease)
	if code != "" && code != usher.ELeaseNotFound {
		w.unreleased = append(w.unreleased, lease)
	}
	return code == ""
}

// giveBack releases what w may have left held, without measuring it: a
// checkout again with the client id of an unanswered one returns the lease
// that client holds, if any. It stops at the first request that gets no
// answer, and returns how many leases it could not give back.
func (w *worker) giveBack(ctx context.Context) (left int) {
	unsure, unreleased := w.unsure, w.unreleased
	w.unsure, w.unreleased = nil, nil
	for n, i := range unsure {
		status, code := w.roundTrip(ctx, "POST", leasesPath, w.checkoutBody(i))
		if code == errTransport {
			return len(unsure) - n + len(unreleased)
		}
		if code == "" && (status == 200 || status == 201) {
			if id := jsonString(w.conn.body, `"id":"`); id != "" {
				unreleased = append(unreleased, id)
			}
		}
	}
	for n, lease := range unreleased {
		_, code := w.roundTrip(ctx, "DELETE", w.leasePath(lease, ""), nil)
		switch {
		case code == errTransport:
			return left + len(unreleased) - n
		case code != "" && code != usher.ELeaseNotFound:
			left++
		}
	}
	return left
}

func (w *worker) heartbeat(ctx context.Context, lease string) bool {
	_, code := w.do(ctx, "POST", w.leasePath(lease, "/heartbeat"), nil, kindHeartbeat)
	return code == ""
}

// loop says how long and how fast workers run.
type loop struct {
	workers  int
	deadline time.Time
	maxOps   int64   // cap on the sequence numbers handed out
	rate     float64 // ops per second in total; 0 runs closed-loop
	// perWorker, if set, caps the iterations of worker w (e.g. one per
	// logical client it owns).
	perWorker func(w int) int
}

// drive runs op on every worker until the deadline, the op cap, the
// per-worker cap or ctx ends. Worker w's k-th call gets sequence number
// seq = k*workers + w. In open-loop mode (rate > 0) seq is due at
// start + seq/rate (see pace).
func drive(ctx context.Context, ws []*worker, lp loop, op func(ctx context.Context, w *worker, k int)) time.Duration {
	ctx, cancel := context.WithDeadline(ctx, lp.deadline)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.interruptOn(ctx)()
			limit := -1
			if lp.perWorker != nil {
				limit = lp.perWorker(w.id)
			}
			for k := 0; k != limit; k++ {
				seq := int64(k)*int64(lp.workers) + int64(w.id)
				if seq >= lp.maxOps || ctx.Err() != nil {
					return
				}
				if lp.rate > 0 && !w.pace(ctx, lp.due(start, seq)) {
					return
				}
				op(ctx, w, k)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// due returns when sequence number seq is due in open-loop mode.
func (lp loop) due(start time.Time, seq int64) time.Time {
	return start.Add(time.Duration(float64(seq) / lp.rate * float64(time.Second)))
}

// pace waits until due. If the worker is already late because its last
// request took too long, the next request's latency is counted from when it
// was due, so a server that falls behind shows it (no coordinated
// omission). If the worker was idle, latency is counted from the actual
// send, so the timer waking it late is not blamed on the server. It
// returns false if ctx ended first or due is not before ctx's deadline:
// on a busy host that deadline's timer may fire late while a stalled
// worker catches up back to back, and the requests due after the end
// must not be sent then.
func (w *worker) pace(ctx context.Context, due time.Time) bool {
	w.due = time.Time{}
	if deadline, ok := ctx.Deadline(); ok && !due.Before(deadline) {
		return false
	}
	if time.Now().After(due) {
		w.due = due
		return ctx.Err() == nil
	}
	return sleepUntil(ctx, due)
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// owned returns how many of n logical clients worker w of ws owns: clients
// w, w+ws, w+2ws, ...
func owned(n, ws, w int) int {
	if w >= n {
		return 0
	}
	return (n - w + ws - 1) / ws
}
