package daemon

import (
	"context"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/webhook"
)

// configWebhooks returns the [[webhook]] entries of the configuration in
// force (checked when it was loaded).
func (d *Daemon) configWebhooks() []usher.Webhook {
	d.rt.mu.Lock()
	cfg := d.cfg
	d.rt.mu.Unlock()
	hooks, err := cfg.ConfigWebhooks()
	if err != nil {
		d.logger.Error("webhooks: the configuration's [[webhook]] entries are refused", "err", err)
	}
	return hooks
}

// webhookAdmin serves /v1/webhooks on any node: the webhooks and their
// outbox are in the store every node shares.
func (d *Daemon) webhookAdmin() *webhook.Admin {
	return &webhook.Admin{Store: d.back.webhooks, Events: d.events, Config: d.configWebhooks, Now: d.rt.now}
}

// startWebhooks delivers the webhooks' outbox while this node decides,
// so that one node of a cluster delivers, and returns a function that
// stops it and waits. A new term goes on from the stored cursors.
func (d *Daemon) startWebhooks(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	d.rt.mu.Lock()
	cfg := d.cfg
	d.rt.mu.Unlock()
	disp := webhook.NewDispatcher(webhook.Options{
		Store: d.back.webhooks, Events: d.events, Config: d.configWebhooks, Now: d.rt.now, Logger: d.logger,
		MaxBackoff: time.Duration(cfg.WebhookMaxBackoff), DeadLetterAfter: time.Duration(cfg.WebhookDeadLetterAfter),
		LogRetention: time.Duration(cfg.EventRetention), UserAgent: "Usher/" + d.opts.Version,
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		disp.Run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
