package cluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests when a forwarding node or a connection to one
// outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
