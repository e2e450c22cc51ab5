// Package bench is Usher's load generator: it drives a server over the
// HTTP API with many simulated clients and reports throughput, latency
// percentiles and errors by code. `usher bench` is its command line.
//
// Logical clients (each with its own client id) are multiplexed over a
// bounded pool of workers, each with its own keep-alive connection, so
// 30,000 clients do not need 30,000 sockets. Every load loop is bounded by
// a duration and by an operation cap.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Scenarios, by name.
const (
	CheckoutRelease = "checkout-release"
	Heartbeat       = "heartbeat"
	Startup         = "startup"
	Hold            = "hold"
	Bare            = "bare"
	Restart         = "restart"
)

// Scenarios lists every scenario with what it measures.
func Scenarios() [][2]string {
	return [][2]string{
		{CheckoutRelease, "pairs per second: each client loops checkout then release"},
		{Heartbeat, "heartbeats per second with one live lease per client"},
		{Startup, "time until every client, all brand new, holds a seat"},
		{Hold, "one lease per client held and beating for the duration; server RSS and CPU"},
		{Bare, "a bare net/http handler with a fixed JSON answer: the ceiling of this host"},
		{Restart, "fill the store with one lease per client, then time a server start on it"},
	}
}

// Defaults.
const (
	DefaultFeature      = "bench"
	DefaultClients      = 64
	DefaultDuration     = 10 * time.Second
	DefaultMaxOps       = 10_000_000
	DefaultSetupTimeout = 10 * time.Minute
	DefaultKeepalive    = 180 * time.Second
	MaxWorkers          = 256
)

// Config says what to load and how.
type Config struct {
	Scenario string
	Server   string // base URL of the server to load; empty with Spawn
	Token    string // admin token, sent with every request when set
	// Spawn starts a throwaway server with an embedded store in a temporary
	// directory, loaded with a license of Seats seats of Feature.
	Spawn bool
	// ServerCommand, if set, is the argv that runs `usher server` (e.g. the
	// running binary and "server"). A spawned server then runs as a child
	// process for hold and restart, so that its memory and CPU are its own.
	ServerCommand []string
	// SpawnProcess runs the spawned server as a child process for every
	// scenario (needs ServerCommand).
	SpawnProcess bool
	// ServerPID is the process of a server on this host given by Server,
	// so that hold can report its memory and CPU.
	ServerPID int

	Clients      int           // logical clients, each with its own client id
	Workers      int           // concurrent requests; default min(Clients, MaxWorkers)
	Duration     time.Duration // how long the measured phase runs
	MaxOps       int64         // cap on operations of the measured phase
	SetupTimeout time.Duration // bound on taking the leases before hold, heartbeat, restart
	Rate         float64       // open loop: operations per second in total; 0 is closed loop
	Seats        int           // seats of the spawned server's license; default Clients
	Feature      string        // feature to check out
	Keepalive    time.Duration // keep-alive timeout of a spawned server
	Interval     time.Duration // hold: heartbeat interval per lease; default the server's

	// Attacks, with checkout-release, measures it once without an attack
	// and once beside each of these (AttackLogin, AttackSlowloris), sent
	// from AttackFrom (default DefaultAttackFrom): an address of this
	// host, or a prefix whose addresses the attack takes in turn.
	// AttackConns is the attack's connections: default DefaultLoginFlood
	// or DefaultSlowConns.
	Attacks     []string
	AttackFrom  string
	AttackConns int

	Progress io.Writer    // if set, a progress line is redrawn here
	Logger   *slog.Logger // default discards
}

// Result is what a run measured. Latency fields are those of the
// scenario's main request (checkout, heartbeat or the bare request);
// LatencyBy has every request type.
type Result struct {
	Scenario  string             `json:"scenario"`
	Server    string             `json:"server"`
	Clients   int                `json:"clients"`
	Workers   int                `json:"workers"`
	Rate      float64            `json:"rate,omitempty"`
	Ops       int64              `json:"ops"`
	OpsPerSec float64            `json:"ops_per_sec"`
	P50       float64            `json:"p50_ms"`
	P90       float64            `json:"p90_ms"`
	P99       float64            `json:"p99_ms"`
	Max       float64            `json:"max_ms"`
	Elapsed   float64            `json:"elapsed_s"`
	Errors    map[string]int64   `json:"errors"`
	Requests  int64              `json:"requests"`
	LatencyBy map[string]Latency `json:"latency_by_request,omitempty"`
	Setup     float64            `json:"setup_s,omitempty"` // taking the leases before the measured phase

	// Server usage (hold and restart), when the server's process is known.
	Usage       string  `json:"server_usage,omitempty"` // where the numbers come from, or why there are none
	RSS         int64   `json:"rss_bytes,omitempty"`
	PeakRSS     int64   `json:"rss_peak_bytes,omitempty"`
	RSSBefore   int64   `json:"rss_before_bytes,omitempty"` // before the leases were taken
	RSSPerLease float64 `json:"rss_per_lease_bytes,omitempty"`
	CPU         float64 `json:"cpu_s,omitempty"`         // server CPU time during the measured phase
	CPUPercent  float64 `json:"cpu_percent,omitempty"`   // of one core
	CPUPerOp    float64 `json:"cpu_per_op_us,omitempty"` // server CPU per op, in microseconds
	Store       int64   `json:"store_bytes,omitempty"`   // database and its log, spawned servers only
	StorePer    float64 `json:"store_per_lease_bytes,omitempty"`

	// Attacks has checkout-release without an attack ("none", the figures
	// above) and beside each attack of Config.Attacks.
	Attacks []AttackResult `json:"attacks,omitempty"`
}

// Latency is the distribution of one request type, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (c *Config) setDefaults() {
	c.Feature = orDefault(c.Feature, DefaultFeature)
	if c.Clients <= 0 {
		c.Clients = DefaultClients
	}
	if c.Workers <= 0 {
		c.Workers = min(c.Clients, MaxWorkers)
	}
	c.Workers = min(c.Workers, c.Clients)
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.MaxOps <= 0 {
		c.MaxOps = DefaultMaxOps
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.Seats <= 0 {
		c.Seats = c.Clients
	}
	if c.Keepalive <= 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.AttackFrom = orDefault(c.AttackFrom, DefaultAttackFrom)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (c *Config) validate() error {
	known := false
	var names []string
	for _, s := range Scenarios() {
		names = append(names, s[0])
		known = known || s[0] == c.Scenario
	}
	switch {
	case !known:
		return fmt.Errorf("unknown scenario %q: want one of %s", c.Scenario, strings.Join(names, ", "))
	case c.Scenario == Bare:
		return nil
	case c.Spawn && c.Server != "":
		return errors.New("both a server and spawn are set: load either --server URL or a --spawn'ed one")
	case !c.Spawn && c.Server == "":
		return errors.New("no server to load: use --server URL, or --spawn for a throwaway one")
	case c.Scenario == Restart && !c.Spawn:
		return errors.New("restart needs --spawn: it fills and restarts a server of its own")
	case c.SpawnProcess && len(c.ServerCommand) == 0:
		return errors.New("a child-process server needs the command that runs usher server")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	}
	return c.validateAttacks()
}

func (c *Config) validateAttacks() error {
	if len(c.Attacks) == 0 {
		return nil
	}
	if c.Scenario != CheckoutRelease {
		return fmt.Errorf("attacks run beside %s only: use --scenario %s", CheckoutRelease, CheckoutRelease)
	}
	for _, a := range c.Attacks {
		if a != AttackLogin && a != AttackSlowloris {
			return fmt.Errorf("unknown attack %q: want %s or %s", a, AttackLogin, AttackSlowloris)
		}
	}
	_, err := attackAddrs(c.AttackFrom)
	return err
}

// Run runs one scenario and returns what it measured. It returns an error
// only when the run could not be made at all; failed requests are counted
// in Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, runID: newRunID()}
	defer r.close()
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	res := &Result{Scenario: cfg.Scenario, Server: r.srv.describe(), Clients: cfg.Clients, Workers: cfg.Workers, Rate: cfg.Rate}
	var err error
	switch cfg.Scenario {
	case CheckoutRelease:
		if len(cfg.Attacks) > 0 {
			err = r.underAttack(ctx, res)
		} else {
			err = r.checkoutRelease(ctx, res)
		}
	case Heartbeat:
		err = r.heartbeat(ctx, res)
	case Startup:
		err = r.startup(ctx, res)
	case Hold:
		err = r.hold(ctx, res)
	case Bare:
		err = r.bare(ctx, res)
	case Restart:
		err = r.restart(ctx, res)
	}
	r.giveBack(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	if len(res.Attacks) == 0 {
		r.summarize(res)
	}
	return res, nil
}

// run is the state of one Run.
type run struct {
	cfg     Config
	runID   string
	srv     *server
	tgt     *target
	workers []*worker
	ops     atomic.Int64 // requests answered, for the progress line
	main    kind         // the request type the headline latency is of
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// open finds or starts the server and builds the workers.
func (r *run) open(ctx context.Context) error {
	var err error
	switch {
	case r.cfg.Scenario == Bare:
		r.srv, err = startBare()
	case r.cfg.Spawn:
		r.srv, err = spawn(ctx, r.cfg, r.childProcess() && r.cfg.Scenario != Restart)
	default:
		r.srv = &server{url: r.cfg.Server, token: r.cfg.Token, pid: r.cfg.ServerPID}
	}
	if err != nil {
		return err
	}
	if r.tgt, err = newTarget(r.srv.url, r.srv.token, r.cfg.Feature, r.runID); err != nil {
		return err
	}
	for i := range r.cfg.Workers {
		r.workers = append(r.workers, newWorker(i, r.tgt, &r.ops))
	}
	return nil
}

// childProcess reports whether a spawned server runs as a child process.
func (r *run) childProcess() bool {
	if len(r.cfg.ServerCommand) == 0 {
		return false
	}
	return r.cfg.SpawnProcess || r.cfg.Scenario == Hold
}

func (r *run) close() {
	for _, w := range r.workers {
		w.conn.drop()
	}
	if r.srv != nil {
		if err := r.srv.close(); err != nil {
			r.cfg.Logger.Error("stop the spawned server", "err", err)
		}
	}
}

// summarize merges the workers' histograms and error counts into res.
func (r *run) summarize(res *Result) {
	var hist [numKinds]Histogram
	res.Errors = map[string]int64{}
	for _, w := range r.workers {
		for k := range hist {
			hist[k].Merge(&w.hist[k])
		}
		for code, n := range w.errs {
			res.Errors[code] += n
		}
		res.Requests += w.calls
	}
	res.LatencyBy = map[string]Latency{}
	for k := range hist {
		if hist[k].Count() > 0 {
			res.LatencyBy[kindNames[k]] = latencyOf(&hist[k])
		}
	}
	m := latencyOf(&hist[r.main])
	res.P50, res.P90, res.P99, res.Max = m.P50, m.P90, m.P99, m.Max
	if res.Elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / res.Elapsed
	}
	if res.CPUPercent > 0 && res.Ops > 0 {
		res.CPUPerOp = res.CPU * 1e6 / float64(res.Ops)
	}
}

func latencyOf(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{Count: int64(h.Count()), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max())}
}

// ErrorCodes returns the error codes of res, most frequent first.
func (res *Result) ErrorCodes() []string {
	codes := make([]string, 0, len(res.Errors))
	for c := range res.Errors {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		if res.Errors[codes[i]] != res.Errors[codes[j]] {
			return res.Errors[codes[i]] > res.Errors[codes[j]]
		}
		return codes[i] < codes[j]
	})
	return codes
}

// requestKinds lists the request types in a fixed order, for reports.
func requestKinds() []string { return slices.Clone(kindNames[:]) }
