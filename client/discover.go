package client

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/usher-lm/usher/internal/discovery/lan"
)

// Discovery on the LAN (docs/discovery.md): when neither Options.Servers
// nor USHER_SERVER names a server, and no Options.Resolver is set, the
// client finds servers itself.
const (
	// RediscoverInterval is how often at most the client searches the
	// LAN again while its servers answer. It searches at once when none
	// answers.
	RediscoverInterval = 5 * time.Minute
	// discoverySettle is how long a search goes on after the first
	// server that serves the feature answered.
	discoverySettle = 200 * time.Millisecond
	// cacheFileName is the last good server, in the usher directory of
	// the user's cache directory.
	cacheFileName = "last-server.json"
)

// lanResolver is the Resolver that searches the LAN. It prefers servers
// that serve the features the client asks for, starts with the last good
// server remembered in the cache file, and searches again at most every
// RediscoverInterval unless asked to (no server answered).
type lanResolver struct {
	port      int
	now       func() time.Time
	cacheFile string // "" when the user has no cache directory
	wanted    func() []string
	// interfaces lists where to broadcast; nil for net.Interfaces.
	interfaces func() ([]net.Interface, error)

	mu       sync.Mutex
	found    []lan.Server
	searched time.Time // zero: never
	stale    bool      // an announcement said something changed
}

// newLANResolver returns the resolver of a client without configured
// servers.
func newLANResolver(opts Options, wanted func() []string) *lanResolver {
	r := &lanResolver{port: opts.DiscoveryPort, now: opts.Now, cacheFile: opts.DiscoveryCache, wanted: wanted}
	if r.port == 0 {
		r.port = lan.DefaultPort
	}
	if r.cacheFile == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			r.cacheFile = filepath.Join(dir, "usher", cacheFileName)
		}
	}
	return r
}

// Resolve returns the servers found, searching the LAN when the last
// search is older than RediscoverInterval or an announcement made it
// stale; the client calls it with every round of retries once its
// servers stop answering. The first time, a remembered server is
// returned without waiting for a search if there is one.
func (r *lanResolver) Resolve(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	first, due := r.searched.IsZero(), r.stale || r.now().Sub(r.searched) >= RediscoverInterval
	r.mu.Unlock()
	if first {
		if last := r.remembered(); last != "" {
			r.mu.Lock()
			r.searched = r.now().Add(-RediscoverInterval) // search at the next round if it does not answer
			r.mu.Unlock()
			return []string{last}, nil
		}
	}
	if first || due {
		if err := r.search(ctx); err != nil {
			return nil, err
		}
	}
	return r.ordered(), nil
}

// search asks the LAN and keeps what answered, if anything did.
func (r *lanResolver) search(ctx context.Context) error {
	var feature string
	if w := r.wanted(); len(w) > 0 {
		feature = w[0]
	}
	found, err := lan.Find(ctx, lan.Options{Port: r.port, Feature: feature, Settle: discoverySettle, Interfaces: r.interfaces})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.searched, r.stale = r.now(), false
	if err != nil {
		return err
	}
	if len(found) == 0 && len(r.found) == 0 {
		if last := r.remembered(); last != "" {
			return nil // ordered returns it
		}
		return errors.New("no Usher server answered discovery on the LAN")
	}
	if len(found) > 0 {
		r.found = found
	}
	return nil
}

// ordered returns the URLs found, servers that serve more of the wanted
// features first, then the remembered one, then in the order they
// answered.
func (r *lanResolver) ordered() []string {
	r.mu.Lock()
	found := slices.Clone(r.found)
	r.mu.Unlock()
	wanted, last := r.wanted(), r.remembered()
	score := func(s lan.Server) int {
		n := 0
		for _, f := range wanted {
			if s.Serves(f) {
				n += 2
			}
		}
		if slices.Contains(s.URLs, last) {
			n++
		}
		return n
	}
	slices.SortStableFunc(found, func(a, b lan.Server) int { return score(b) - score(a) })
	var out []string
	for _, s := range found {
		out = append(out, s.URLs...)
	}
	if len(out) == 0 && last != "" {
		out = []string{last}
	}
	return out
}

// heard takes in an announcement: a server that starts or stops makes the
// next Resolve search again.
func (r *lanResolver) heard(h lan.Heard) {
	if h.Event == lan.EventStart || h.Event == lan.EventStop {
		r.mu.Lock()
		r.stale = true
		r.mu.Unlock()
	}
}

// lastServer is the cache file's content.
type lastServer struct {
	URL string `json:"url"`
}

// remember writes server to the cache file as the last good one. Failing
// to is harmless: the next start searches the LAN.
func (r *lanResolver) remember(server string) {
	if r.cacheFile == "" || r.remembered() == server {
		return
	}
	b, _ := json.Marshal(lastServer{URL: server})
	if os.MkdirAll(filepath.Dir(r.cacheFile), 0o700) == nil {
		tmp := r.cacheFile + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil {
			os.Rename(tmp, r.cacheFile)
		}
	}
}

// remembered returns the last good server from the cache file, or "".
func (r *lanResolver) remembered() string {
	if r.cacheFile == "" {
		return ""
	}
	b, err := os.ReadFile(r.cacheFile)
	if err != nil {
		return ""
	}
	var last lastServer
	if json.Unmarshal(b, &last) != nil {
		return ""
	}
	if u, err := normalizeServer(last.URL); err == nil {
		return u
	}
	return ""
}

// listen wakes the client's retries when a server announces its start,
// and tells the LAN resolver of starts and stops, until the client
// closes. The client starts listening the first time none of its servers
// answers, unless Options.NoAnnouncements. Announcements are not trusted
// for more: an unsigned one can do no more than make the client try its
// servers, or search, once more.
func (c *Client) listen() {
	c.mu.Lock()
	start := !c.heard && !c.closed && !c.opts.NoAnnouncements
	c.heard = true
	if start {
		c.wg.Add(1) // under mu, so that Close waits for it
	}
	c.mu.Unlock()
	if !start {
		return
	}
	w, err := lan.Watch(lan.AnnouncePort(c.discoveryPort()), nil, c.opts.Now)
	if err != nil {
		c.wg.Done()
		return // another program holds the port without sharing it, or no UDP here
	}
	go func() {
		defer c.wg.Done()
		defer w.Close()
		for {
			select {
			case <-c.ctx.Done():
				return
			case h := <-w.C():
				if c.lan != nil {
					c.lan.heard(h)
				}
				if h.Event == lan.EventStart {
					c.wakeRetries()
				}
			}
		}
	}()
}

func (c *Client) discoveryPort() int {
	if c.opts.DiscoveryPort != 0 {
		return c.opts.DiscoveryPort
	}
	return lan.DefaultPort
}

// wakeRetries cuts short the backoff of every call waiting to retry.
func (c *Client) wakeRetries() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.wake)
	c.wake = make(chan struct{})
}

// woken returns the channel the next wakeRetries closes.
func (c *Client) woken() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wake
}

// wantedFeatures are the features the client holds or is checking out.
func (c *Client) wantedFeatures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.leases))
}
