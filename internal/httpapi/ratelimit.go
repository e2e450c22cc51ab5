package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"golang.org/x/time/rate"
)

// ERateLimited is the code of a request refused because its address sent
// too many.
const ERateLimited = usher.ERateLimited

// RateLimit bounds the requests one remote address may make: Requests per
// Interval, in bursts of up to Requests. Zero Requests turns it off.
type RateLimit struct {
	Requests int
	Interval time.Duration
}

// rateLimiter keeps one token bucket per remote IP. A bucket idle for a
// whole interval is full again, the same as a new one, so it is dropped.
type rateLimiter struct {
	cfg rateLimitConfig
	now func() time.Time

	mu        sync.Mutex
	clients   map[string]*ipLimiter
	lastSweep time.Time
}

type rateLimitConfig struct {
	RateLimit
	limit rate.Limit
}

type ipLimiter struct {
	lim      *rate.Limiter
	seen     time.Time
	refusing bool // refused the last request: report the next refusal no more
}

func newRateLimiter(cfg RateLimit, now func() time.Time) *rateLimiter {
	if cfg.Requests <= 0 || cfg.Interval <= 0 {
		return nil
	}
	limit := rate.Limit(float64(cfg.Requests) / cfg.Interval.Seconds())
	return &rateLimiter{cfg: rateLimitConfig{cfg, limit}, now: now, clients: map[string]*ipLimiter{}}
}

// allow takes one request from ip's bucket. When the bucket is empty it
// returns how long until a request would pass, and whether this refusal
// starts a new run of them.
func (l *rateLimiter) allow(ip string) (wait time.Duration, first bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	c, ok := l.clients[ip]
	if !ok {
		c = &ipLimiter{lim: rate.NewLimiter(l.cfg.limit, l.cfg.Requests)}
		l.clients[ip] = c
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		first, c.refusing = !c.refusing, true
		return d, first
	}
	c.refusing = false
	return 0, false
}

// sweep drops idle buckets, at most once per interval.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.cfg.Interval {
		return
	}
	l.lastSweep = now
	for ip, c := range l.clients {
		if now.Sub(c.seen) >= l.cfg.Interval {
			delete(l.clients, ip)
		}
	}
}

// limit answers 429 with Retry-After when r's address is over the limit,
// and reports whether it did.
func (s *Server) limit(w http.ResponseWriter, r *http.Request) bool {
	if s.limiter == nil {
		return false
	}
	ip := remoteIP(r)
	wait, first := s.limiter.allow(ip)
	if wait == 0 {
		return false
	}
	if first {
		s.logger.Warn("rate limited", "remote", ip)
		s.emit(usher.Event{Type: EventRateLimited, Client: usher.Client{Host: ip},
			Reason: "over " + strconv.Itoa(s.limiter.cfg.Requests) + " requests per " + s.limiter.cfg.Interval.String()})
	}
	secs := setRetryAfter(w, wait)
	refuseBody(w, r)
	s.error(w, r, usher.Errorf(ERateLimited, "too many requests from %s: at most %d per %s; retry in %ds",
		ip, s.limiter.cfg.Requests, s.limiter.cfg.Interval, secs))
	return true
}

// refuseBody makes sure the server reads none of r's body: the answer
// closes the connection, and the connection's read deadline is already
// past, so that the server does not drain a body it will never use (and
// that a slow client would send forever).
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
}

// setRetryAfter sets the Retry-After header to d in whole seconds, at
// least one, and returns them.
func setRetryAfter(w http.ResponseWriter, d time.Duration) int {
	secs := max(1, int(math.Ceil(d.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}
