package etcdstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/etcdstore"
	"github.com/usher-lm/usher/internal/etcdtest"
	"github.com/usher-lm/usher/internal/storetest"
	"github.com/usher-lm/usher/internal/webhook"
)

// TestSharedConformance runs the users and tokens suite and the settings
// suite on the shared state, each test under its own cluster name so that
// tests share one etcd.
func TestSharedConformance(t *testing.T) {
	c := etcdtest.MustStartCluster(t, 1)
	cli := c.Client("n1")
	n := 0
	cluster := func() string {
		n++
		return fmt.Sprintf("shared-%d-%d", time.Now().UnixNano(), n)
	}
	t.Run("Auth", func(t *testing.T) {
		storetest.RunAuth(t, func(t *testing.T) func() auth.Store {
			name := cluster()
			return func() auth.Store { return etcdstore.NewShared(cli, name) }
		})
	})
	t.Run("Settings", func(t *testing.T) {
		storetest.RunSettings(t, func(t *testing.T) func() storetest.SettingsStore {
			name := cluster()
			return func() storetest.SettingsStore { return etcdstore.NewShared(cli, name) }
		})
	})
	t.Run("Webhooks", func(t *testing.T) {
		storetest.RunWebhooks(t, func(t *testing.T) func() webhook.Store {
			name := cluster()
			return func() webhook.Store { return etcdstore.NewShared(cli, name) }
		})
	})
	t.Run("Clock", func(t *testing.T) {
		storetest.RunClock(t, func(t *testing.T) func() storetest.ClockStore {
			name := cluster()
			return func() storetest.ClockStore { return etcdstore.NewShared(cli, name) }
		})
	})
}
