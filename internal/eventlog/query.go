package eventlog

import (
	"context"
	"fmt"
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

// Query implements Backend.
func (b *sqliteBackend) Query(ctx context.Context, f Filter) ([]Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if !f.Since.IsZero() {
		since := f.Since.UnixNano()
		first, err := firstIDFrom(ctx, b.db, since)
		if err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		add("id >= ?", first)
		add("time >= ?", since)
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixNano())
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	if f.Feature != "" {
		add("feature = ?", f.Feature)
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(",?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	latest := f.Latest()
	q := "SELECT " + selectColumns + " FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if latest {
		q += " ORDER BY id DESC"
	} else {
		q += " ORDER BY id"
	}
	q += fmt.Sprintf(" LIMIT %d", f.Limit)
	out, err := b.scan(ctx, q, args)
	if latest {
		slices.Reverse(out)
	}
	return out, err
}

const selectColumns = `id, time, type, IFNULL(feature, ''), IFNULL(lease_id, ''), IFNULL(client_id, ''),
	IFNULL(user, ''), IFNULL(host, ''), IFNULL(pid, 0), IFNULL(license_id, ''), IFNULL(reason, '')`

func (b *sqliteBackend) scan(ctx context.Context, q string, args []any) ([]Record, error) {
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		var r Record
		var t int64
		c := &r.Client
		if err := rows.Scan(&r.ID, &t, &r.Type, &r.Feature, &r.LeaseID, &c.ID, &c.User, &c.Host, &c.PID, &r.LicenseID, &r.Reason); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		r.Time = time.Unix(0, t).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
