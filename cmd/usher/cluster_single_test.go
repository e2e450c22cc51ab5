package main

import (
	"context"
	"strings"
	"testing"
)

// TestClusterStatusOfASingleNode: a single server is a one-member cluster
// that decides alone.
func TestClusterStatusOfASingleNode(t *testing.T) {
	url, dir, _, _, _ := startServer(t)
	code, out, errs := runCtx(context.Background(), "cluster", "status", "--server", url, "--data", dir)
	if code != 0 || !strings.Contains(out, "it decides alone") {
		t.Fatalf("cluster status of a single node: exit %d, %q %q; want 0 and that it decides alone", code, out, errs)
	}
}
