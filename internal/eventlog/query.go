package eventlog

import (
	"context"
	"slices"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Filter selects events. Zero fields select everything.
type Filter struct {
	Since   time.Time // events at or after this time
	Until   time.Time // events before this time
	AfterID int64     // events with a larger ID
	Types   []string  // any of these types
	Feature string
	Limit   int // default DefaultLimit, at most MaxLimit
}

// Validate returns an EInvalid error naming a bad field.
func (f Filter) Validate() error {
	for _, t := range f.Types {
		if !slices.Contains(Types(), t) {
			return usher.Errorf(usher.EInvalid, "type %q is not an event type: use one of %s", t, strings.Join(Types(), ", "))
		}
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return usher.Errorf(usher.EInvalid, "limit must be between 1 and %d", MaxLimit)
	}
	return nil
}

// Match reports whether an event passes the type and feature filters.
func (f Filter) Match(ev usher.Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, ev.Type) {
		return false
	}
	return f.Feature == "" || f.Feature == ev.Feature
}

// Query returns stored events oldest first. With neither Since nor AfterID
// set it returns the latest Limit events; otherwise the first Limit after
// that point. Events still queued are not seen: call Sync first to read
// your own writes.
//
// Errors: EInvalid for a bad filter.
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	return l.backend.Query(ctx, f)
}
