package discovery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/discovery/lan"
)

// MissedAnnouncements is how many announce intervals a server with this
// identity that won the tie-break may stay silent before this one serves
// its bound licenses again.
const MissedAnnouncements = 3

// MaxAnnouncementAge is how far an announcement's send time may be from
// this server's clock for it to count: an older one replayed from a
// capture does not stop a server.
const MaxAnnouncementAge = 2 * time.Minute

// LANLock is the identity lock on the LAN: it is held unless another
// server with the same identity announces itself, signed, and wins the
// tie-break (lan.Announcement.Wins: the one that started first). It is
// lost as soon as such a server is heard, within one announce interval,
// and can be taken again once that server stops or misses
// MissedAnnouncements announcements.
type LANLock struct {
	ann    *Announcer
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	guid   string
	rivals map[string]rival // by instance
	held   map[*lanHeld]struct{}

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var _ usher.IdentityLock = (*LANLock)(nil)

// rival is another server with this identity, as last heard.
type rival struct {
	lan.Heard
	seen time.Time
}

// NewLANLock returns the lock of identity guid, fed by heard (a
// lan.Watcher's C) until Close. ann is this server's announcer: it gives
// this run's side of the tie-break, and answers a newcomer that loses it
// at once, so that the newcomer stops without waiting a whole interval.
func NewLANLock(guid string, ann *Announcer, heard <-chan lan.Heard, logger *slog.Logger, now func() time.Time) *LANLock {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &LANLock{ann: ann, now: now, logger: logger, guid: guid, rivals: map[string]rival{}, held: map[*lanHeld]struct{}{}, stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case <-l.stop:
				return
			case h, ok := <-heard:
				if !ok {
					return
				}
				l.Observe(h)
			}
		}
	}()
	return l
}

// Close stops listening. It is safe to call twice.
func (l *LANLock) Close() error {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
	return nil
}

// Lock takes the lock unless a server with this identity that started
// first announces itself on the LAN.
//
// Errors: ELicenseInUseElsewhere, naming the other server's address.
func (l *LANLock) Lock(_ context.Context, guid string) (usher.HeldIdentity, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.winner(); ok {
		return nil, usher.Errorf(usher.ELicenseInUseElsewhere, "another Usher server with this identity (guid %s) announces itself on the LAN from %s, and started first (%s): a copy of this data directory runs there; stop one of them", guid, r.From, r.Started.Format(time.RFC3339))
	}
	h := &lanHeld{l: l, lost: make(chan struct{})}
	l.held[h] = struct{}{}
	return h, nil
}

// winner returns a rival heard recently that wins the tie-break.
func (l *LANLock) winner() (rival, bool) {
	now, self := l.now(), l.ann.self()
	for id, r := range l.rivals {
		if now.Sub(r.seen) > MissedAnnouncements*r.Interval() {
			delete(l.rivals, id)
			continue
		}
		if r.Wins(&self) {
			return r, true
		}
	}
	return rival{}, false
}

// Observe takes in an announcement: one of another server with this
// identity, signed and recent, may end the lock.
func (l *LANLock) Observe(h lan.Heard) {
	now := l.now()
	if h.Unverified != nil || h.GUID != l.guid || h.Instance == l.ann.Instance() {
		return
	}
	if self := l.ann.cfg.Self(); self.Cluster != "" && h.Cluster == self.Cluster {
		return // another node of this cluster: the etcd identity lock keeps them apart
	}
	if age := now.Sub(h.Sent); age > MaxAnnouncementAge || age < -MaxAnnouncementAge {
		return
	}
	self := l.ann.self()
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.Event == lan.EventStop {
		delete(l.rivals, h.Instance)
		return
	}
	_, known := l.rivals[h.Instance]
	l.rivals[h.Instance] = rival{Heard: h, seen: now}
	if !h.Wins(&self) {
		if !known {
			l.ann.Announce(lan.EventAlive) // tell the newcomer now
		}
		return
	}
	if len(l.held) > 0 {
		l.logger.Warn("another server with this identity announces itself on the LAN and started first: bound licenses stop being served here", "guid", l.guid, "from", h.From.String())
	}
	for held := range l.held {
		close(held.lost)
		delete(l.held, held)
	}
}

// lanHeld is the LAN lock while held.
type lanHeld struct {
	l    *LANLock
	lost chan struct{}
}

func (h *lanHeld) Lost() <-chan struct{} { return h.lost }

func (h *lanHeld) Release() error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	delete(h.l.held, h)
	return nil
}
