// Package renewer fetches the renewals of checkpoint licenses from the
// renewal URLs their vendors publish them at: plain HTTP(S) GETs of static
// files, from half of each license's renewal period on, with back-off
// after failures. A license whose vendor stops publishing its renewal
// (a withdrawn license) is not renewed and expires on its own.
package renewer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// Defaults.
const (
	DefaultMinBackoff = time.Minute
	DefaultMaxBackoff = 6 * time.Hour
	fetchTimeout      = 30 * time.Second
	maxRenewalSize    = 64 << 10
)

// Ledger is what the renewer asks of the ledger.
type Ledger interface {
	Checkpoints() []usher.Checkpoint
	RenewLicense(ctx context.Context, text []byte) (*usher.LicenseState, error)
	RenewalFailed(licenseID string, err error)
}

// Options configure a Renewer. Ledger is required.
type Options struct {
	Ledger     Ledger
	HTTP       *http.Client     // default: one with a 30 s timeout
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger     // default discards
	MinBackoff time.Duration    // after the first failure; default DefaultMinBackoff
	MaxBackoff time.Duration    // the longest wait between tries; default DefaultMaxBackoff
}

// Renewer fetches due renewals each time Check is called.
type Renewer struct {
	opts  Options
	mu    sync.Mutex
	fails map[string]backoff // by license ID
}

type backoff struct {
	n    int
	next time.Time
}

// New returns a renewer.
func New(opts Options) *Renewer {
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: fetchTimeout}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	return &Renewer{opts: opts, fails: make(map[string]backoff)}
}

// Check fetches and loads the renewal of every checkpoint license that is
// due, and returns how many it renewed.
func (r *Renewer) Check(ctx context.Context) int {
	renewed := 0
	for _, c := range r.opts.Ledger.Checkpoints() {
		if !r.due(c) {
			continue
		}
		if err := r.renew(ctx, c); err != nil {
			if ctx.Err() != nil {
				return renewed
			}
			r.failed(c, err)
			continue
		}
		r.mu.Lock()
		delete(r.fails, c.LicenseID)
		r.mu.Unlock()
		renewed++
	}
	return renewed
}

// due reports whether c has a renewal URL, is past half its period, and is
// not waiting after a failure.
func (r *Renewer) due(c usher.Checkpoint) bool {
	now := r.opts.Now()
	if c.URL == "" || now.Before(c.RenewedAt.Add(c.RenewEvery/2)) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !now.Before(r.fails[c.LicenseID].next)
}

func (r *Renewer) failed(c usher.Checkpoint, err error) {
	r.mu.Lock()
	b := r.fails[c.LicenseID]
	wait := r.opts.MaxBackoff
	if b.n < 20 {
		wait = min(r.opts.MinBackoff<<b.n, r.opts.MaxBackoff)
	}
	b.n++
	b.next = r.opts.Now().Add(wait)
	r.fails[c.LicenseID] = b
	r.mu.Unlock()
	r.opts.Logger.Warn("license renewal failed: will retry; without a renewal its checkpoint features stop at the technical expiry (usher license renew FILE loads one by hand)",
		"license", c.LicenseID, "url", c.URL, "technical_expiry", c.TechnicalExpiry, "retry_in", wait, "err", err)
	r.opts.Ledger.RenewalFailed(c.LicenseID, err)
}

// renew fetches c's renewal file and loads it.
func (r *Renewer) renew(ctx context.Context, c usher.Checkpoint) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return usher.Errorf(usher.EInvalid, "renewal URL %s: %v", c.URL, err)
	}
	resp, err := r.opts.HTTP.Do(req)
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "fetch %s: %v", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return usher.Errorf(usher.EUnavailable, "fetch %s: %s", c.URL, resp.Status)
	}
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxRenewalSize+1))
	if err != nil {
		return usher.Errorf(usher.EUnavailable, "fetch %s: %v", c.URL, err)
	}
	st, err := r.opts.Ledger.RenewLicense(ctx, text)
	if err != nil {
		return fmt.Errorf("load the renewal from %s: %w", c.URL, err)
	}
	r.opts.Logger.Info("license renewed", "license", st.ID, "until", st.Until)
	return nil
}

// Run calls Check at once and then on every tick until ctx ends.
func (r *Renewer) Run(ctx context.Context, tick <-chan time.Time) {
	for {
		r.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}
