package usher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// EBanned refuses a checkout to a user or host that an admin kicked with a
// ban, until the ban ends.
const EBanned = "banned"

// ErrBanned matches any *Error with the code EBanned.
var ErrBanned = &Error{Code: EBanned}

// MaxBan is the longest ban one kick may set.
const MaxBan = 366 * 24 * time.Hour

// Ban keeps a user, a host, or a user on a host, from checking out a
// feature (or every feature, when Feature is empty) until Until. A ban is
// stored, so it outlives a restart, and in a cluster every node that
// decides sees it.
type Ban struct {
	// ID is derived from Feature, User and Host: banning the same again
	// replaces the ban.
	ID        string    `json:"id"`
	Feature   string    `json:"feature,omitempty"`
	User      string    `json:"user,omitempty"`
	Host      string    `json:"host,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Until     time.Time `json:"until"`
}

// BanRequest asks to ban a user or host for a while.
type BanRequest struct {
	Feature, User, Host string
	For                 time.Duration
}

// banKey is what a ban matches on; an empty field matches anything.
type banKey struct{ feature, user, host string }

func (b Ban) key() banKey { return banKey{b.Feature, b.User, b.Host} }

// BanID returns the ID of the ban on feature, user and host.
func BanID(feature, user, host string) string {
	sum := sha256.Sum256([]byte(feature + "\x00" + user + "\x00" + host))
	return "ban_" + hex.EncodeToString(sum[:8])
}

// Validate returns an EInvalid error unless the request names a user or a
// host and a duration within MaxBan.
func (r BanRequest) Validate() error {
	if r.User == "" && r.Host == "" {
		return Errorf(EInvalid, "a ban names a user or a host: kick with --user or --host (and optionally --feature) to ban")
	}
	if r.For <= 0 || r.For > MaxBan {
		return Errorf(EInvalid, "a ban lasts more than 0 and at most %s: give a duration like 10m or 24h", MaxBan)
	}
	return nil
}

// Ban stores a ban and enforces it on every later checkout, including
// those waiting in line. It does not end leases: kick them after.
//
// Errors: EInvalid, or a store failure (the ban is then not in force).
func (l *Ledger) Ban(ctx context.Context, req BanRequest) (Ban, error) {
	if err := req.Validate(); err != nil {
		return Ban{}, err
	}
	now := l.now()
	b := Ban{ID: BanID(req.Feature, req.User, req.Host), Feature: req.Feature, User: req.User, Host: req.Host,
		CreatedAt: now, Until: now.Add(req.For)}
	l.banMu.Lock()
	defer l.banMu.Unlock()
	if err := l.store.PutBan(context.WithoutCancel(ctx), b); err != nil {
		return Ban{}, err
	}
	l.mu.Lock()
	l.bans[b.key()] = b
	l.mu.Unlock()
	l.logger.Info("ban set", "feature", LogSafe(b.Feature), "user", LogSafe(b.User), "host", LogSafe(b.Host), "until", b.Until)
	return b, nil
}

// Unban lifts a ban at once.
//
// Errors: EBanNotFound, or a store failure (the ban then stays).
func (l *Ledger) Unban(ctx context.Context, id string) (Ban, error) {
	l.banMu.Lock()
	defer l.banMu.Unlock()
	b, ok := l.banByID(id)
	if !ok {
		return Ban{}, Errorf(EBanNotFound, "no ban %s is in force: list the bans with usher bans", id)
	}
	if err := l.store.DeleteBans(context.WithoutCancel(ctx), []string{id}); err != nil {
		return Ban{}, err
	}
	l.mu.Lock()
	delete(l.bans, b.key())
	l.mu.Unlock()
	return b, nil
}

// EBanNotFound answers an unban of a ban that is not in force.
const EBanNotFound = "ban_not_found"

func (l *Ledger) banByID(id string) (Ban, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, b := range l.bans {
		if b.ID == id && now.Before(b.Until) {
			return b, true
		}
	}
	return Ban{}, false
}

// Bans returns the bans in force, soonest end first.
func (l *Ledger) Bans() []Ban {
	l.mu.Lock()
	now := l.now()
	out := make([]Ban, 0, len(l.bans))
	for _, b := range l.bans {
		if now.Before(b.Until) {
			out = append(out, b)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Until.Equal(out[j].Until) {
			return out[i].Until.Before(out[j].Until)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// bannedLocked returns an EBanned error if a ban in force keeps req's
// client from feature. It costs nothing while no ban exists.
func (l *Ledger) bannedLocked(feature string, c Client, now time.Time) error {
	if len(l.bans) == 0 {
		return nil
	}
	for _, f := range [2]string{feature, ""} {
		for _, k := range [3]banKey{{f, c.User, ""}, {f, "", c.Host}, {f, c.User, c.Host}} {
			if b, ok := l.bans[k]; ok && now.Before(b.Until) {
				return banned(b, feature)
			}
		}
	}
	return nil
}

func banned(b Ban, feature string) error {
	who := "user " + b.User
	switch {
	case b.User == "":
		who = "host " + b.Host
	case b.Host != "":
		who += " on host " + b.Host
	}
	return Errorf(EBanned, "%s is banned from feature %s until %s by an admin: try again after then, or ask your admin to lift the ban (usher unban %s)",
		who, feature, b.Until.UTC().Format(time.RFC3339), b.ID)
}

// dropExpiredBans forgets the bans that have ended and deletes them from
// the store. The sweeper calls it through Reclaim.
func (l *Ledger) dropExpiredBans(ctx context.Context) error {
	if len(l.endedBans()) == 0 {
		return nil
	}
	l.banMu.Lock() // no ban set meanwhile, so none that replaced an ended one is deleted
	defer l.banMu.Unlock()
	ids := l.endedBans()
	if len(ids) == 0 {
		return nil
	}
	if err := l.store.DeleteBans(context.WithoutCancel(ctx), ids); err != nil {
		return err
	}
	l.mu.Lock()
	for _, id := range ids {
		for k, b := range l.bans {
			if b.ID == id {
				delete(l.bans, k)
			}
		}
	}
	l.mu.Unlock()
	return nil
}

// endedBans returns the IDs of the bans that have ended. It costs nothing
// while no ban exists.
func (l *Ledger) endedBans() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bans) == 0 {
		return nil
	}
	now := l.now()
	var ids []string
	for _, b := range l.bans {
		if !now.Before(b.Until) {
			ids = append(ids, b.ID)
		}
	}
	return ids
}
