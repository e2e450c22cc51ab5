package usher_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests when a waiting checkout or any other goroutine
// outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
