package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// identityLockRetry is how often a deciding node that found its identity
// held elsewhere tries the identity locks again.
const identityLockRetry = 2 * time.Second

// DefaultIdentityLockDir is where the identity lock files go when
// identity_lock_dir is not set and the directory can be written.
const DefaultIdentityLockDir = "/run/usher"

// hostLock is the host-wide identity lock: an abstract Unix socket on
// Linux (see hostlock_linux.go), a lock file elsewhere.
type hostLock struct{}

func (hostLock) Lock(_ context.Context, guid string) (usher.HeldIdentity, error) {
	c, err := acquireHostLock(guid)
	if err != nil {
		return nil, usher.Errorf(usher.ELicenseInUseElsewhere, "another Usher server with this identity (guid %s) serves on this host, from a copy of this data directory", guid)
	}
	return &closerHeld{c: c}, nil
}

// dirLock is the identity lock in identity_lock_dir: a file per identity
// held with flock. Unlike the abstract socket it reaches across network
// namespaces, to every container that mounts the same directory.
type dirLock struct{ dir string }

func (l dirLock) Lock(_ context.Context, guid string) (usher.HeldIdentity, error) {
	path := filepath.Join(l.dir, "identity-"+guid+".lock")
	f, err := lockFile(path)
	if err != nil {
		return nil, usher.Errorf(usher.ELicenseInUseElsewhere, "another Usher server with this identity (guid %s) holds %s: a copy of this data directory runs in another container or namespace that shares identity_lock_dir (%v)", guid, path, err)
	}
	return &closerHeld{c: f}, nil
}

// closerHeld is a held lock that ends when its file or socket closes.
type closerHeld struct {
	once sync.Once
	c    io.Closer
}

func (h *closerHeld) Lost() <-chan struct{} { return nil }

func (h *closerHeld) Release() error {
	var err error
	h.once.Do(func() { err = h.c.Close() })
	return err
}

// identityLockDir returns the directory of the identity lock files: dir if
// set (created if missing), else DefaultIdentityLockDir where it can be
// written, else the temporary directory.
func identityLockDir(dir string) (string, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("identity_lock_dir: %w: give a directory this server may write", err)
		}
		return dir, nil
	}
	if writableDir(DefaultIdentityLockDir) {
		return DefaultIdentityLockDir, nil
	}
	return os.TempDir(), nil
}

// writableDir reports whether dir exists or can be made, and a file can be
// created in it.
func writableDir(dir string) bool {
	if os.MkdirAll(dir, 0o755) != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// heldLocks are the identity locks a deciding node holds.
type heldLocks struct {
	held []usher.HeldIdentity
	lost chan struct{} // closed when any of them is lost
	stop chan struct{}
	wg   sync.WaitGroup
}

// lockAll takes every lock of the identity, or none: it returns the first
// refusal.
func lockAll(ctx context.Context, locks []usher.IdentityLock, guid string) (*heldLocks, error) {
	h := &heldLocks{lost: make(chan struct{}), stop: make(chan struct{})}
	for _, l := range locks {
		held, err := l.Lock(ctx, guid)
		if err != nil {
			h.release()
			return nil, err
		}
		h.held = append(h.held, held)
	}
	var once sync.Once
	for _, held := range h.held {
		if lost := held.Lost(); lost != nil {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				select {
				case <-lost:
					once.Do(func() { close(h.lost) })
				case <-h.stop:
				}
			}()
		}
	}
	return h, nil
}

// release gives every lock up, the last taken first.
func (h *heldLocks) release() {
	close(h.stop)
	h.wg.Wait()
	for i := len(h.held) - 1; i >= 0; i-- {
		h.held[i].Release()
	}
}

// holdIdentity takes the identity locks for the term of ctx, and holds
// them until it ends. While another server holds one, bound licenses are
// not served: the gate is shut, the reason logged and recorded, and the
// locks tried again every identityLockRetry. stop releases them.
func (d *Daemon) holdIdentity(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	g := &identityGuard{d: d}
	held := g.take(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.run(ctx, held)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// identityGuard keeps the gate of bound licenses in step with the locks.
type identityGuard struct {
	d       *Daemon
	blocked string // why bound licenses are not served; "" while they are
}

// run holds the locks until ctx ends, takes them again when one is lost,
// and tries again while another server holds one.
func (g *identityGuard) run(ctx context.Context, held *heldLocks) {
	for {
		if held == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(identityLockRetry):
			}
			held = g.take(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			held.release()
			return
		case <-held.lost:
			held.release()
			held = nil
			if ctx.Err() != nil {
				return // the term ended, and the session with it
			}
			g.block("this server lost its identity lock (its etcd session expired, or a server with this identity that started first announced itself on the LAN): another server with this identity may serve now")
		}
	}
}

// take tries the locks once and opens or shuts the gate accordingly.
func (g *identityGuard) take(ctx context.Context) *heldLocks {
	held, err := lockAll(ctx, g.d.ident.locks, g.d.ident.guid)
	if err != nil {
		why := usher.ErrorMessage(err)
		if usher.ErrorCode(err) == usher.EInternal {
			why = "the identity lock cannot be taken: " + err.Error()
		}
		g.block(why)
		return nil
	}
	g.d.ident.gate.Open()
	if g.blocked != "" {
		g.blocked = ""
		g.d.logger.Info("bound licenses served: no other server holds this identity now", "guid", g.d.ident.guid)
		g.d.events.Record(usher.Event{Type: eventlog.EventLicenseServedAgain, Reason: "guid " + g.d.ident.guid})
	}
	return held
}

// block shuts the gate of bound licenses, and says why once per reason.
func (g *identityGuard) block(why string) {
	g.d.ident.gate.Block(why)
	if why == g.blocked {
		return
	}
	g.blocked = why
	g.d.logger.Warn("bound licenses are not served: "+why+"; they will be once it stops", "guid", g.d.ident.guid)
	g.d.events.Record(usher.Event{Type: eventlog.EventLicenseInUseElsewhere, Reason: why})
}
