package usher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// UsersNamed is the value of a grant's users attribute (users=named) that
// makes its feature serve registered users only.
const UsersNamed = "named"

// Codes of registered users.
const (
	// EUserNotRegistered refuses a checkout of a feature for registered
	// users by a user an admin did not register.
	EUserNotRegistered = "user_not_registered"
	// ETooManyUsers refuses a registration beyond the feature's seats.
	ETooManyUsers = "too_many_users"
)

// Sentinel errors of registered users.
var (
	ErrUserNotRegistered = &Error{Code: EUserNotRegistered}
	ErrTooManyUsers      = &Error{Code: ETooManyUsers}
)

// Registration is a user an admin registered for a feature whose grant
// says users=named. Registrations are stored and replicated like leases.
type Registration struct {
	ID           string    `json:"-"`
	Feature      string    `json:"feature"`
	User         string    `json:"user"`
	RegisteredAt time.Time `json:"registered_at"`
	// LastCheckoutAt is when the user last checked the feature out; zero
	// if never.
	LastCheckoutAt time.Time `json:"last_checkout_at,omitzero"`
}

// RegistrationID returns the ID a registration is stored under.
func RegistrationID(feature, user string) string {
	sum := sha256.Sum256([]byte(feature + "\x00" + user))
	return "reg_" + hex.EncodeToString(sum[:10])
}

// parseUsersAttr reads the users attribute of a grant: users=named.
func parseUsersAttr(g *Grant, v string) error {
	if v != UsersNamed {
		return fmt.Errorf("want users=%s, the one value", UsersNamed)
	}
	g.Users = v
	return nil
}

func userNotRegistered(req CheckoutRequest) error {
	if req.Client.User == "" {
		return Errorf(EUserNotRegistered, "feature %s serves registered users only, and the checkout names no user: send client.user, and ask your admin to register it (usher assign %s USER)", req.Feature, req.Feature)
	}
	return Errorf(EUserNotRegistered, "user %s is not registered for feature %s, which serves registered users only: ask your admin to register you (usher assign %s %s)", req.Client.User, req.Feature, req.Feature, req.Client.User)
}

func validateUsers(users []string) error {
	if len(users) == 0 {
		return Errorf(EInvalid, "name at least one user")
	}
	for _, u := range users {
		if u == "" || len(u) > 256 || !utf8.ValidString(u) || strings.TrimSpace(u) != u {
			return Errorf(EInvalid, "user %q is not valid: give the user name the application sends as client.user (1-256 bytes, no leading or trailing spaces)", u)
		}
	}
	return nil
}

// namedSeatsLocked returns how many users a feature may register: the
// seats of its users=named grants that have not expired.
func (l *Ledger) namedSeatsLocked(feature string, now time.Time) (seats int, unlimited bool, err error) {
	p := l.pools[feature]
	if p == nil || !p.named {
		return 0, false, Errorf(EInvalid, "feature %s does not serve registered users: no license grants it with users=named, so every user may check it out", feature)
	}
	for _, g := range p.grants {
		if g.Users == UsersNamed && !g.expiredAt(now) {
			seats += g.Seats
			unlimited = unlimited || g.Unlimited
		}
	}
	return seats, unlimited, nil
}

// Assign registers users for a feature whose grant says users=named. A
// user already registered keeps the first registration. There are never
// more registered users than the feature's users=named seats.
//
// Errors: EInvalid (also for a feature without users=named),
// ETooManyUsers, or a store failure.
func (l *Ledger) Assign(ctx context.Context, feature string, users []string) ([]Registration, error) {
	if err := ValidateFeatureName(feature); err != nil {
		return nil, err
	}
	if err := validateUsers(users); err != nil {
		return nil, err
	}
	l.access.writeMu.Lock()
	defer l.access.writeMu.Unlock()
	now := l.now()
	fresh, err := l.newRegistrations(feature, users, now)
	if err != nil || len(fresh) == 0 {
		return nil, err
	}
	if err := l.store.PutRegistrations(context.WithoutCancel(ctx), fresh); err != nil {
		return nil, err
	}
	l.mu.Lock()
	m := l.access.feature(feature)
	for i := range fresh {
		m[fresh[i].User] = &fresh[i]
	}
	l.mu.Unlock()
	l.logger.Info("users registered", "feature", LogSafe(feature), "users", len(fresh))
	return fresh, nil
}

// newRegistrations returns the registrations of the users not registered
// yet, if the seats allow them.
func (l *Ledger) newRegistrations(feature string, users []string, now time.Time) ([]Registration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seats, unlimited, err := l.namedSeatsLocked(feature, now)
	if err != nil {
		return nil, err
	}
	have := l.access.users[feature]
	var fresh []Registration
	seen := map[string]bool{}
	for _, u := range users {
		if have[u] == nil && !seen[u] {
			seen[u] = true
			fresh = append(fresh, Registration{ID: RegistrationID(feature, u), Feature: feature, User: u, RegisteredAt: now})
		}
	}
	if n := len(have) + len(fresh); !unlimited && n > seats {
		return nil, Errorf(ETooManyUsers, "feature %s has %s, and %d users would be registered: unassign some first (usher unassign %s USER...), or ask the vendor for more seats", feature, plural(seats, "seat", "seats"), n, feature)
	}
	return fresh, nil
}

// Unassign removes users' registrations for a feature and returns those it
// removed; users not registered are skipped. Leases they hold live on
// until released, kicked or expired.
//
// Errors: EInvalid, or a store failure.
func (l *Ledger) Unassign(ctx context.Context, feature string, users []string) ([]Registration, error) {
	if err := validateUsers(users); err != nil {
		return nil, err
	}
	l.access.writeMu.Lock()
	defer l.access.writeMu.Unlock()
	var gone []Registration
	var ids []string
	l.mu.Lock()
	for _, u := range users {
		if r := l.access.users[feature][u]; r != nil && !containsID(ids, r.ID) {
			gone = append(gone, *r)
			ids = append(ids, r.ID)
		}
	}
	l.mu.Unlock()
	if len(ids) == 0 {
		return nil, nil
	}
	if err := l.store.DeleteRegistrations(context.WithoutCancel(ctx), ids); err != nil {
		return nil, err
	}
	l.mu.Lock()
	for _, r := range gone {
		delete(l.access.users[feature], r.User)
	}
	if len(l.access.users[feature]) == 0 {
		delete(l.access.users, feature)
	}
	l.mu.Unlock()
	return gone, nil
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Registrations returns the users registered for a feature, by name.
func (l *Ledger) Registrations(feature string) []Registration {
	l.mu.Lock()
	out := make([]Registration, 0, len(l.access.users[feature]))
	for _, r := range l.access.users[feature] {
		out = append(out, *r)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}
