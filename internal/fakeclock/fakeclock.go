// Package fakeclock is a manually advanced clock for tests of anything
// time-based in Usher.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told to. Its Now method fits every
// injected `Now func() time.Time`.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
