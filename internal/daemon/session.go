package daemon

import (
	"time"

	usher "github.com/usher-lm/usher"
)

// The session key that signs lease tokens is certified for sessionValidity
// and made again every sessionRenew, so that a server that runs for months
// never serves an expired certificate, and the identity key (perhaps in a
// hardware token) signs once a day at most. Certificates are backdated by
// sessionSkew, for clients whose clocks are a little behind.
const (
	sessionValidity = 7 * 24 * time.Hour
	sessionRenew    = 24 * time.Hour
	sessionSkew     = time.Hour
)

// startSession certifies this run's first session key and renews it in
// the background until Close.
func (d *Daemon) startSession() error {
	if err := d.renewSession(); err != nil {
		return err
	}
	d.wg.Add(1)
	go d.keepSession()
	return nil
}

func (d *Daemon) renewSession() error {
	s, err := usher.NewSession(d.ident.key, d.rt.now(), sessionValidity, sessionSkew)
	if err != nil {
		return err
	}
	d.ident.session.Store(s)
	return nil
}

// keepSession renews the session every sessionRenew. A renewal that fails
// (the hardware key is away) keeps the old session, which stays valid for
// days, and is tried again at the next tick.
func (d *Daemon) keepSession() {
	defer d.wg.Done()
	t := time.NewTicker(sessionRenew)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		if err := d.renewSession(); err != nil {
			d.logger.Warn("lease tokens keep the old session key: renewing it failed; check the server's identity key", "err", err)
		}
	}
}

// session returns the session that signs lease tokens now.
func (d *Daemon) session() *usher.Session { return d.ident.session.Load() }
