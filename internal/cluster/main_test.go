package cluster_test

import (
	"testing"

	"github.com/usher-lm/usher/internal/etcdtest"
)

// TestMain fails the tests when a forwarding node, a connection to one or
// an etcd session outlives them.
func TestMain(m *testing.M) { etcdtest.VerifyNoLeaks(m) }
