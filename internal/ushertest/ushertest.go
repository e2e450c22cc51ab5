// Package ushertest is the test kit every Usher test uses: an in-process
// server or cluster on loopback ports, a fake clock, a polling wait and a
// buffer safe to write and read at once.
package ushertest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// WaitFor calls fn every interval until it returns nil, and fails the test
// with fn's last error when timeout passes first. fn's error says what is
// still missing, as a got/want message would.
func WaitFor(tb testing.TB, timeout, interval time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("still failing after %s: %v", timeout, err)
			return
		}
		time.Sleep(interval) // polling, bounded by the deadline
	}
}

// Until returns a WaitFor function for a condition: its error, until cond
// holds, says the test is waiting for what.
func Until(what string, cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for %s", what)
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a log
// destination or a command's output that a test polls.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
