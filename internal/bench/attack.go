package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Attacks that run beside checkout-release, from other addresses of this
// host, to measure what the service to everyone else keeps.
const (
	// AttackLogin floods the login endpoint with wrong passwords for
	// names that do not exist: each costs the server a password hash.
	AttackLogin = "login"
	// AttackSlowloris opens connections that send a request's headers and
	// then its body a byte a second, and opens them again when the server
	// closes them.
	AttackSlowloris = "slowloris"
)

// Attack defaults.
const (
	DefaultAttackFrom  = "127.0.0.2"
	DefaultLoginFlood  = 64   // concurrent wrong logins
	DefaultSlowConns   = 1500 // slow connections kept open, or tried again a second after the server closes them
	maxAttackAddresses = 256
	// attackRamp is how long an attack runs before the measure starts, so
	// that the measure is of the flood, not of its first connections.
	attackRamp = 2 * time.Second
)

// AttackResult is checkout-release measured while one attack ran (or
// none, the baseline), in the same run against the same server.
type AttackResult struct {
	Attack    string           `json:"attack"` // "none" for the baseline
	Ops       int64            `json:"ops"`
	OpsPerSec float64          `json:"ops_per_sec"`
	P50       float64          `json:"p50_ms"`
	P99       float64          `json:"p99_ms"`
	Max       float64          `json:"max_ms"`
	Errors    map[string]int64 `json:"errors"`
	// PeakRSS is the server's peak memory so far, when its process is
	// known: since the baseline runs first, a flood that costs memory
	// raises it.
	PeakRSS int64 `json:"rss_peak_bytes,omitempty"`
	// Answers counts how the server met the attack: login answers by
	// status ("401", "429", "503", "transport"); slow connections
	// "opened", "refused" (closed before any answer), "cut" (closed
	// later) and "held" (still open at the end).
	Answers map[string]int64 `json:"attack_answers,omitempty"`
}

// attackAddrs parses --attack-from: one address, or a prefix whose
// addresses (at most 256, without the first) the attack takes in turn.
func attackAddrs(from string) ([]netip.Addr, error) {
	if !strings.Contains(from, "/") {
		a, err := netip.ParseAddr(from)
		if err != nil {
			return nil, fmt.Errorf("attack-from %q is not an address or a prefix like 127.0.1.0/24", from)
		}
		return []netip.Addr{a}, nil
	}
	p, err := netip.ParsePrefix(from)
	if err != nil {
		return nil, fmt.Errorf("attack-from %q is not an address or a prefix like 127.0.1.0/24", from)
	}
	var out []netip.Addr
	for a := p.Masked().Addr().Next(); p.Contains(a) && len(out) < maxAttackAddresses; a = a.Next() {
		out = append(out, a)
	}
	return out, nil
}

// tally counts outcomes from many goroutines.
type tally struct {
	mu sync.Mutex
	m  map[string]int64
}

func (t *tally) add(k string, n int64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int64{}
	}
	t.m[k] += n
	t.mu.Unlock()
}

// startAttack starts attack against the run's server until stop is
// called, which returns how the server met it.
func (r *run) startAttack(ctx context.Context, attack string) (stop func() map[string]int64, err error) {
	addrs, err := attackAddrs(r.cfg.AttackFrom)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t := &tally{}
	conns := r.cfg.AttackConns
	switch attack {
	case AttackLogin:
		if conns <= 0 {
			conns = DefaultLoginFlood
		}
		for i := range conns {
			wg.Go(func() { r.floodLogins(ctx, addrs[i%len(addrs)], i, t) })
		}
	case AttackSlowloris:
		if conns <= 0 {
			conns = DefaultSlowConns
		}
		for i := range conns {
			wg.Go(func() { r.slowConn(ctx, addrs[i%len(addrs)], t) })
		}
	}
	return func() map[string]int64 {
		cancel()
		wg.Wait()
		return t.m
	}, nil
}

// floodLogins sends wrong logins from addr until ctx ends, on a lean
// connection like the workers', so that the attacker takes little of the
// host the server shares.
func (r *run) floodLogins(ctx context.Context, addr netip.Addr, id int, t *tally) {
	c := newConn(r.tgt.addr, r.tgt.tls, r.tgt.head)
	c.from = net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0))
	defer c.drop()
	defer c.interruptOn(ctx)()
	path := []byte("/v1/auth/login")
	var body []byte
	for n := 0; ctx.Err() == nil; n++ {
		body = fmt.Appendf(body[:0], `{"username":"flood-%d-%d","password":"not the password"}`, id, n)
		if err := c.roundTrip(ctx, "POST", path, body); err != nil {
			if ctx.Err() == nil {
				t.add(errTransport, 1)
				sleepUntil(ctx, time.Now().Add(10*time.Millisecond))
			}
			continue
		}
		t.add(strconv.Itoa(c.status), 1)
	}
}

// slowConn keeps one connection from addr sending a body a byte a
// second, and opens another when the server closes it, until ctx ends.
func (r *run) slowConn(ctx context.Context, addr netip.Addr, t *tally) {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)), Timeout: 5 * time.Second}
	head := "POST /v1/leases HTTP/1.1\r\nHost: " + r.tgt.addr + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", r.tgt.addr)
		if err != nil {
			if ctx.Err() == nil {
				t.add("dial_failed", 1)
				sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
			}
			continue
		}
		t.add("opened", 1)
		t.add(trickle(ctx, c, head), 1)
		c.Close()
		sleepUntil(ctx, time.Now().Add(time.Second)) // then open another
	}
}

// trickle sends head, then a byte a second, until the server closes c
// or ctx ends; it says which, and whether the server answered first.
func trickle(ctx context.Context, c net.Conn, head string) string {
	closed := make(chan bool, 1)
	go func() {
		buf := make([]byte, 512)
		n, _ := c.Read(buf) // an answer, or the close
		closed <- n > 0
	}()
	defer context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })()
	c.Write([]byte(head))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case answered := <-closed:
			if answered {
				return "cut"
			}
			return "refused"
		case <-ctx.Done():
			<-closed
			return "held"
		case <-tick.C:
			c.Write([]byte{' '})
		}
	}
}

// underAttack measures checkout-release once without an attack and then
// once beside each attack, on the same server. res gets the baseline's
// figures, summarized, and every measure in Attacks.
func (r *run) underAttack(ctx context.Context, res *Result) error {
	head := *res
	for _, attack := range append([]string{"none"}, r.cfg.Attacks...) {
		r.resetWorkers()
		stop := func() map[string]int64 { return nil }
		if attack != "none" {
			var err error
			if stop, err = r.startAttack(ctx, attack); err != nil {
				return err
			}
			sleepUntil(ctx, time.Now().Add(min(attackRamp, r.cfg.Duration)))
		}
		phase := head
		err := r.checkoutRelease(ctx, &phase)
		answers := stop()
		if err != nil {
			return err
		}
		r.summarize(&phase)
		res.Attacks = append(res.Attacks, AttackResult{Attack: attack, Ops: phase.Ops, OpsPerSec: phase.OpsPerSec,
			P50: phase.P50, P99: phase.P99, Max: phase.Max, Errors: phase.Errors, PeakRSS: phase.PeakRSS, Answers: answers})
		if attack == "none" {
			attacks := res.Attacks
			*res = phase
			res.Attacks = attacks
		}
	}
	return nil
}

// resetWorkers clears what the workers measured, between phases.
func (r *run) resetWorkers() {
	for _, w := range r.workers {
		w.hist = [numKinds]Histogram{}
		w.errs = map[string]int64{}
		w.calls = 0
	}
}
