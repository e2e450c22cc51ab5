package ushertest

import (
	"sync"
	"time"
)

// Clock is a clock tests move by hand. Its Now method fits every injected
// `Now func() time.Time`. A stopped clock (NewClock) moves only when told;
// a running clock (NewRunningClock) follows the real time plus whatever
// the test added, for servers whose timers run on real time while their
// decisions read the clock.
type Clock struct {
	mu      sync.Mutex
	base    time.Time // the stopped time, or the zero time when running
	offset  time.Duration
	running bool
}

// NewClock returns a stopped clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{base: start} }

// NewRunningClock returns a clock that runs with the real time.
func NewRunningClock() *Clock { return &Clock{running: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *Clock) now() time.Time {
	if c.running {
		return time.Now().Add(c.offset)
	}
	return c.base.Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Set moves the clock to t, forward or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += t.Sub(c.now())
}
