package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests when the seat holder or its server leaves a
// goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
