package daemon

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// discoveryState is this server's presence on the LAN (docs/discovery.md):
// the responder to discovery requests, the mDNS advertisement, the
// announcer, and the LAN identity lock fed by the announcements heard.
type discoveryState struct {
	resp    *discovery.Responder
	mdns    *discovery.Advertiser
	ann     *discovery.Announcer
	watcher *lan.Watcher
	lock    *discovery.LANLock
}

// startDiscovery answers discovery and starts announcing, unless
// discovery = false. Nothing of it is required to serve: a host where the
// discovery port is taken (by another server on this host), or where
// mDNS, announcements or their listener cannot run, logs why and goes on.
// It must run after bind and startSession, before run takes the identity
// locks. A server whose API listens on loopback only answers and
// announces on loopback only.
func (d *Daemon) startDiscovery() {
	if !d.cfg.Discovery {
		return
	}
	ds, port, ifs := &d.disc, d.cfg.DiscoveryPort, net.Interfaces
	if d.loopbackOnly() {
		ifs = lan.LoopbackInterfaces
	}
	var err error
	ds.resp, err = discovery.Listen(discovery.ResponderConfig{
		Port: port, Info: d.discoveryInfo, LoopbackOnly: d.loopbackOnly(), Logger: d.logger, Now: d.opts.Now, Interfaces: ifs,
	})
	if err != nil {
		d.logger.Warn("not answering discovery: clients must be told where this server is", "err", err)
	} else {
		port = ds.resp.Port()
		d.logger.Info("answering discovery on the LAN", "port", port, "ipv6_group", lan.Group.String(), "loopback_only", d.loopbackOnly())
	}
	if port := d.apiPort(); port != 0 && !d.loopbackOnly() {
		if ds.mdns, err = discovery.Advertise(d.cfg.NodeNameOrHost(), d.ident.guid, d.opts.Version, port, d.tls != nil); err != nil {
			d.logger.Info("not advertised over mDNS: discovery by broadcast and multicast still works", "err", err)
		}
	}
	ds.ann, err = discovery.StartAnnouncer(discovery.AnnouncerConfig{
		Port: port, Interval: time.Duration(d.cfg.AnnounceInterval), Session: d.session, Self: d.announcement,
		Interfaces: ifs, Logger: d.logger, Now: d.opts.Now,
	})
	if err != nil {
		d.logger.Warn("no announcements on the LAN, and no check for a copy of this server on it", "err", err)
		return
	}
	if ds.watcher, err = lan.Watch(lan.AnnouncePort(port), ifs, d.opts.Now); err != nil {
		d.logger.Warn("not listening to announcements: a copy of this server on the LAN goes unnoticed", "port", lan.AnnouncePort(port), "err", err)
		return
	}
	ds.lock = discovery.NewLANLock(d.ident.guid, ds.ann, ds.watcher.C(), d.logger, d.rt.now)
	d.ident.locks = append(d.ident.locks, ds.lock)
}

// closeDiscovery says goodbye on the LAN and stops answering. Close calls
// it after the identity locks are released.
func (d *Daemon) closeDiscovery() {
	ds := &d.disc
	if ds.lock != nil {
		ds.lock.Close()
	}
	if ds.watcher != nil {
		ds.watcher.Close()
	}
	if ds.ann != nil {
		ds.ann.Close()
	}
	ds.mdns.Close()
	if ds.resp != nil {
		ds.resp.Close()
	}
}

// announce tells the LAN of event now, if discovery runs.
func (d *Daemon) announce(event string) {
	if d.disc.ann != nil {
		d.disc.ann.Announce(event)
	}
}

// announcer is the ledger observer that announces license changes.
type announcer struct{ d *Daemon }

func (a announcer) Observe(ev usher.Event) {
	switch ev.Type {
	case usher.EventLicenseAdded, usher.EventLicenseRemoved:
		a.d.announce(ev.Type)
	}
}

// discoveryInfo is the reply to a discovery request: who this server is,
// its API URLs and the features it serves (none when clients need a
// password).
func (d *Daemon) discoveryInfo() lan.Server {
	s := lan.Server{GUID: d.ident.guid, Name: d.cfg.NodeNameOrHost(), Version: d.opts.Version, URLs: d.discoveryURLs(), TLSFingerprint: d.tlsPrint}
	s.Cluster = d.clusterName()
	if d.cfg.ClientPassword == "" {
		for _, f := range d.features() {
			s.Features = append(s.Features, f.Name)
		}
	}
	return s
}

// clusterName is the cluster's name in cluster mode, else "".
func (d *Daemon) clusterName() string {
	if !d.cfg.ClusterMode() {
		return ""
	}
	if d.cfg.ClusterName == "" {
		return DefaultClusterName
	}
	return d.cfg.ClusterName
}

// announcement is this server's part of an announcement.
func (d *Daemon) announcement() lan.Announcement {
	a := lan.Announcement{GUID: d.ident.guid, Name: d.cfg.NodeNameOrHost(), Version: d.opts.Version, URLs: d.discoveryURLs(), Cluster: d.clusterName()}
	if l := d.Ledger(); l != nil {
		for _, lic := range l.Licenses() {
			if lic.BindServer != nil && lic.BindServer.Equal(ed25519.PublicKey(d.ident.self.Key)) {
				a.Licenses = append(a.Licenses, lic.ID)
			}
		}
	}
	return a
}

// discoveryURLs are the API's URLs; one that listens on every address has
// no host, which the searcher fills in with the reply's source address.
func (d *Daemon) discoveryURLs() []string {
	var out []string
	for _, ln := range d.listeners {
		addr := ln.Addr().(*net.TCPAddr)
		host := ""
		if !addr.IP.IsUnspecified() {
			host = addr.IP.String()
		}
		out = append(out, d.scheme()+"://"+net.JoinHostPort(host, fmt.Sprint(addr.Port)))
	}
	return out
}

// loopbackOnly reports whether the API listens on loopback addresses
// only: discovery then answers this host only.
func (d *Daemon) loopbackOnly() bool {
	for _, ln := range d.listeners {
		if !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
			return false
		}
	}
	return true
}

// apiPort is the port mDNS advertises: the first listener's.
func (d *Daemon) apiPort() int {
	if len(d.listeners) == 0 {
		return 0
	}
	return d.listeners[0].Addr().(*net.TCPAddr).Port
}
