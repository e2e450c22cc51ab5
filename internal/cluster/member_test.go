package cluster_test

import (
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/cluster"
)

func TestParsePeers(t *testing.T) {
	got, err := cluster.ParsePeers([]string{"n1=http://10.0.0.1:7421", "n2=https://10.0.0.2:7421"})
	if err != nil || len(got) != 2 || got["n2"] != "https://10.0.0.2:7421" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range [][]string{
		{"n1"}, {"=http://a:1"}, {"n1=10.0.0.1:7421"}, {"n1=http://a"}, {"n1=http://a:1", "n1=http://b:1"},
	} {
		if _, err := cluster.ParsePeers(bad); err == nil || !strings.Contains(err.Error(), "n1") && !strings.Contains(err.Error(), "NAME=URL") {
			t.Errorf("ParsePeers(%q): got %v, want an error naming the peer", bad, err)
		}
	}
}
