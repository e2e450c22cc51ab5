package etcdstore_test

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/usher-lm/usher/internal/etcdstore"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
)

// historySuite runs the event log suite on cli, each test under its own
// cluster name.
func historySuite(t *testing.T, cli *clientv3.Client) {
	n := 0
	eventlogtest.Run(t, func(t *testing.T) func(eventlog.Options) (*eventlog.Log, error) {
		n++
		cluster := fmt.Sprintf("history-%d-%d", time.Now().UnixNano(), n)
		return func(o eventlog.Options) (*eventlog.Log, error) {
			o.Backend = etcdstore.NewHistory(cli, etcdstore.HistoryOptions{Cluster: cluster})
			return eventlog.Open(o)
		}
	}, true)
}

func TestHistoryEmbedded(t *testing.T) {
	c := etcdtest.MustStartCluster(t, 1)
	historySuite(t, c.Client("n1"))
}

func TestHistoryExternal(t *testing.T) {
	url := etcdtest.StartExternal(t)
	historySuite(t, etcdtest.MustClient(t, []string{url}))
}
