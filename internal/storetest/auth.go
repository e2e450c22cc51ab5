package storetest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/auth"
)

// AuthFactory creates an empty backing medium for one test and returns a
// function that opens an auth.Store on it. Each call of open reopens the
// same data; the suite closes a store (if it is an io.Closer) before
// reopening.
type AuthFactory func(t *testing.T) (open func() auth.Store)

// RunAuth runs the conformance suite of users and API tokens against the
// stores that newStore makes. A store that is also an auth.UserCreator is
// checked as one.
func RunAuth(t *testing.T, newStore AuthFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() auth.Store)
	}{
		{"Empty", testAuthEmpty},
		{"UserRoundTrip", testUserRoundTrip},
		{"PutUserReplaces", testPutUserReplaces},
		{"DeleteUser", testDeleteUser},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"PutTokenReplaces", testPutTokenReplaces},
		{"DeleteToken", testDeleteToken},
		{"ConcurrentUsers", testConcurrentUsers},
		{"CreateUserOnlyOnce", testCreateUserOnlyOnce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// openAuth opens a store closed at the end of the test.
func openAuth(t *testing.T, open func() auth.Store) auth.Store {
	t.Helper()
	s := open()
	t.Cleanup(func() { closeAny(t, s) })
	return s
}

// reopenAuth closes s and opens the same data again.
func reopenAuth(t *testing.T, s auth.Store, open func() auth.Store) auth.Store {
	t.Helper()
	closeAny(t, s)
	return openAuth(t, open)
}

// closeAny closes s if it is an io.Closer; closing twice must be safe.
func closeAny(t *testing.T, s any) {
	t.Helper()
	if c, ok := s.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatalf("close store: %v", err)
		}
	}
}

// stamp is a creation time with nanoseconds and a zone other than UTC:
// stores must keep the instant.
var stamp = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

func mustUsers(t *testing.T, s auth.Store) []auth.User {
	t.Helper()
	us, err := s.Users(context.Background())
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	slices.SortFunc(us, func(a, b auth.User) int { return strings.Compare(a.Name, b.Name) })
	return us
}

func mustTokens(t *testing.T, s auth.Store) []auth.Token {
	t.Helper()
	ts, err := s.Tokens(context.Background())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	slices.SortFunc(ts, func(a, b auth.Token) int { return strings.Compare(a.ID, b.ID) })
	return ts
}

func sameUsers(t *testing.T, got, want []auth.User) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got[i], want[i]
		ok = g.Name == w.Name && g.Role == w.Role && g.PasswordHash == w.PasswordHash && g.CreatedAt.Equal(w.CreatedAt)
	}
	if !ok {
		t.Fatalf("got users %+v, want %+v", got, want)
	}
}

func sameTokens(t *testing.T, got, want []auth.Token) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got[i], want[i]
		ok = g.ID == w.ID && g.Name == w.Name && g.Role == w.Role && g.SecretHash == w.SecretHash && g.CreatedAt.Equal(w.CreatedAt)
	}
	if !ok {
		t.Fatalf("got tokens %+v, want %+v", got, want)
	}
}

func testAuthEmpty(t *testing.T, open func() auth.Store) {
	s := openAuth(t, open)
	sameUsers(t, mustUsers(t, s), nil)
	sameTokens(t, mustTokens(t, s), nil)
}

func testUserRoundTrip(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	want := []auth.User{
		{Name: "alice", Role: auth.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", CreatedAt: stamp},
		{Name: "bob", Role: auth.RoleMonitor, PasswordHash: "$argon2id$other", CreatedAt: stamp.Add(time.Second)},
	}
	for _, u := range want {
		if err := s.PutUser(ctx, u); err != nil {
			t.Fatalf("PutUser %s: %v", u.Name, err)
		}
	}
	sameUsers(t, mustUsers(t, s), want)
	s = reopenAuth(t, s, open)
	sameUsers(t, mustUsers(t, s), want)
	sameTokens(t, mustTokens(t, s), nil)
}

func testPutUserReplaces(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	u := auth.User{Name: "alice", Role: auth.RoleMonitor, PasswordHash: "old", CreatedAt: stamp}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.Role, u.PasswordHash = auth.RoleAdmin, "new"
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatalf("PutUser again: %v", err)
	}
	s = reopenAuth(t, s, open)
	sameUsers(t, mustUsers(t, s), []auth.User{u})
}

func testDeleteUser(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	keep := auth.User{Name: "alice", Role: auth.RoleAdmin, PasswordHash: "h", CreatedAt: stamp}
	for _, u := range []auth.User{keep, {Name: "bob", Role: auth.RoleAdmin, PasswordHash: "h", CreatedAt: stamp}} {
		if err := s.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if err := s.DeleteUser(ctx, "nobody"); err != nil {
		t.Fatalf("DeleteUser of a missing name: got %v, want nil", err)
	}
	s = reopenAuth(t, s, open)
	sameUsers(t, mustUsers(t, s), []auth.User{keep})
}

func testTokenRoundTrip(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	want := []auth.Token{
		{ID: "tok_1", Name: "ci", Role: auth.RoleAdmin, SecretHash: strings.Repeat("ab", 32), CreatedAt: stamp},
		{ID: "tok_2", Name: "grafana", Role: auth.RoleMonitor, SecretHash: strings.Repeat("cd", 32), CreatedAt: stamp.Add(time.Minute)},
	}
	for _, tok := range want {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatalf("PutToken %s: %v", tok.Name, err)
		}
	}
	sameTokens(t, mustTokens(t, s), want)
	s = reopenAuth(t, s, open)
	sameTokens(t, mustTokens(t, s), want)
	sameUsers(t, mustUsers(t, s), nil)
}

func testPutTokenReplaces(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	tok := auth.Token{ID: "tok_1", Name: "ci", Role: auth.RoleMonitor, SecretHash: "old", CreatedAt: stamp}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	tok.Role, tok.SecretHash = auth.RoleAdmin, "new"
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatalf("PutToken again: %v", err)
	}
	s = reopenAuth(t, s, open)
	sameTokens(t, mustTokens(t, s), []auth.Token{tok})
}

func testDeleteToken(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	keep := auth.Token{ID: "tok_1", Name: "ci", Role: auth.RoleAdmin, SecretHash: "h1", CreatedAt: stamp}
	for _, tok := range []auth.Token{keep, {ID: "tok_2", Name: "old", Role: auth.RoleAdmin, SecretHash: "h2", CreatedAt: stamp}} {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteToken(ctx, "tok_2"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if err := s.DeleteToken(ctx, "tok_missing"); err != nil {
		t.Fatalf("DeleteToken of a missing ID: got %v, want nil", err)
	}
	// A token's name is free again once it is deleted.
	again := auth.Token{ID: "tok_3", Name: "old", Role: auth.RoleMonitor, SecretHash: "h3", CreatedAt: stamp}
	if err := s.PutToken(ctx, again); err != nil {
		t.Fatalf("PutToken of a deleted token's name: %v", err)
	}
	s = reopenAuth(t, s, open)
	sameTokens(t, mustTokens(t, s), []auth.Token{keep, again})
}

func testConcurrentUsers(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.PutUser(ctx, auth.User{Name: fmt.Sprintf("user%02d", i), Role: auth.RoleMonitor, PasswordHash: "h", CreatedAt: stamp})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PutUser %d: %v", i, err)
		}
	}
	s = reopenAuth(t, s, open)
	if got := len(mustUsers(t, s)); got != n {
		t.Fatalf("got %d users, want %d", got, n)
	}
}

func testCreateUserOnlyOnce(t *testing.T, open func() auth.Store) {
	ctx := context.Background()
	s := openAuth(t, open)
	c, ok := s.(auth.UserCreator)
	if !ok {
		t.Skip("the store is not an auth.UserCreator")
	}
	first := auth.User{Name: auth.BootstrapUser, Role: auth.RoleAdmin, PasswordHash: "first", CreatedAt: stamp}
	if created, err := c.CreateUser(ctx, first); err != nil || !created {
		t.Fatalf("CreateUser: got %v, %v, want true, nil", created, err)
	}
	second := first
	second.PasswordHash = "second"
	if created, err := c.CreateUser(ctx, second); err != nil || created {
		t.Fatalf("CreateUser of an existing name: got %v, %v, want false, nil", created, err)
	}
	s = reopenAuth(t, s, open)
	sameUsers(t, mustUsers(t, s), []auth.User{first})
}
