package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// AnnouncerConfig configures an Announcer.
type AnnouncerConfig struct {
	// Port is the discovery port; announcements go to
	// lan.AnnouncePort(Port).
	Port int
	// Interval is announce_interval: how often the periodic announcement
	// goes out.
	Interval time.Duration
	// Session returns the session key that signs announcements.
	Session func() *usher.Session
	// Self returns the announcement's GUID, Name, Version, URLs and
	// Licenses; the Announcer fills in the rest. It is called for each
	// announcement.
	Self       func() lan.Announcement
	Interfaces func() ([]net.Interface, error)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Announcer tells the LAN about this server: at start, every Interval,
// when Announce is called, and at Close.
type Announcer struct {
	cfg      AnnouncerConfig
	instance string
	started  time.Time
	seq      atomic.Uint64
	conns    []*net.UDPConn

	kick chan string
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// StartAnnouncer sends the start announcement and the periodic ones until
// Close.
func StartAnnouncer(cfg AnnouncerConfig) (*Announcer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Announcer{cfg: cfg, instance: randomID(), started: cfg.Now(), kick: make(chan string, 8), stop: make(chan struct{})}
	for _, network := range []string{"udp4", "udp6"} {
		if c, err := net.ListenUDP(network, nil); err == nil {
			a.conns = append(a.conns, c)
		}
	}
	if len(a.conns) == 0 {
		return nil, errNoSocket
	}
	a.send(lan.EventStart)
	a.wg.Add(1)
	go a.run()
	return a, nil
}

var errNoSocket = usher.Errorf(usher.EInternal, "discovery: cannot open a UDP socket to send announcements")

// Instance and Started tell this run apart from another server with the
// same identity (lan.Announcement.Wins).
func (a *Announcer) Instance() string   { return a.instance }
func (a *Announcer) Started() time.Time { return a.started }

// self is this run as an announcement, for the tie-break.
func (a *Announcer) self() lan.Announcement {
	return lan.Announcement{Instance: a.instance, Started: a.started}
}

// Announce sends an announcement of event soon. It never blocks.
func (a *Announcer) Announce(event string) {
	select {
	case a.kick <- event:
	default: // a burst of events: the ones queued tell enough
	}
}

// Close sends the stop announcement and stops. It is safe to call twice.
func (a *Announcer) Close() error {
	a.once.Do(func() {
		close(a.stop)
		a.wg.Wait()
		a.send(lan.EventStop)
		for _, c := range a.conns {
			c.Close()
		}
	})
	return nil
}

func (a *Announcer) run() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.send(lan.EventAlive)
		case ev := <-a.kick:
			a.send(ev)
		}
	}
}

// send signs and sends one announcement to every broadcast address and
// the IPv6 group on every interface.
func (a *Announcer) send(event string) {
	ann := a.cfg.Self()
	ann.Instance, ann.Started, ann.Sent = a.instance, a.started, a.cfg.Now()
	ann.Seq, ann.Event, ann.IntervalMS = a.seq.Add(1), event, a.cfg.Interval.Milliseconds()
	b := lan.EncodeAnnouncement(ann, a.cfg.Session())
	if lan.SendAll(a.conns, lan.BroadcastTargets(a.cfg.Interfaces, lan.AnnouncePort(a.cfg.Port)), b) == 0 {
		a.cfg.Logger.Debug("discovery: the announcement went nowhere: no interface took it", "event", event)
	}
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
