package usher_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// mustPolicy compiles spec or fails the test.
func mustPolicy(t *testing.T, spec usher.PolicySpec) *usher.Policy {
	t.Helper()
	p, err := usher.CompilePolicy(spec)
	if err != nil {
		t.Fatalf("CompilePolicy: %v", err)
	}
	return p
}

// policyFixture is a fixture whose ledger has feature cad with seats and
// the policy of the cad rules given.
func policyFixture(t *testing.T, seats int, groups map[string][]string, cad usher.FeaturePolicySpec) *fixture {
	t.Helper()
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: seats})
	f.ledger.SetPolicy(mustPolicy(t, usher.PolicySpec{Groups: groups, Features: map[string]usher.FeaturePolicySpec{"cad": cad}}))
	return f
}

func (f *fixture) checkoutFrom(feature, client, user, host, addr string) (usher.Lease, error) {
	l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{
		Feature: feature, Client: usher.Client{ID: client, User: user, Host: host}, Addr: addr,
	})
	return l, err
}

// wantDenied checks that err is a policy denial naming rule.
func wantDenied(t *testing.T, err error, rule string) {
	t.Helper()
	wantCode(t, err, usher.EPolicyDenied)
	if !strings.HasPrefix(usher.ErrorMessage(err), rule) {
		t.Fatalf("got message %q, want it to start with the rule %s", usher.ErrorMessage(err), rule)
	}
}

func TestPolicyMaxPerEachUser(t *testing.T) {
	f := policyFixture(t, 10, nil, usher.FeaturePolicySpec{Max: map[string]int{"user:*": 1}})
	a, err := f.checkoutFrom("cad", "c1", "alice", "ws1", "")
	if err != nil {
		t.Fatalf("first seat of alice: %v", err)
	}
	_, err = f.checkoutFrom("cad", "c2", "alice", "ws2", "")
	wantDenied(t, err, `feature.cad.max["user:*"]=1: user alice holds 1`)
	if _, err := f.checkoutFrom("cad", "c3", "bob", "ws1", ""); err != nil {
		t.Fatalf("bob's seat: %v", err)
	}
	if err := f.ledger.Release(context.Background(), a.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.checkoutFrom("cad", "c2", "alice", "ws2", ""); err != nil {
		t.Fatalf("alice after releasing her seat: %v", err)
	}
}

func TestPolicyMaxPerHostPatternAndGroup(t *testing.T) {
	f := policyFixture(t, 10, map[string][]string{"cad-team": {"user:alice", "user:bob"}},
		usher.FeaturePolicySpec{Max: map[string]int{"host:kiosk*": 0, "group:cad-team": 2}})
	_, err := f.checkoutFrom("cad", "c1", "carol", "kiosk7", "")
	wantDenied(t, err, `feature.cad.max["host:kiosk*"]=0: host kiosk7 holds 0`)
	for i, u := range []string{"alice", "bob"} {
		if _, err := f.checkoutFrom("cad", "t"+u, u, "ws"+string(rune('1'+i)), ""); err != nil {
			t.Fatalf("seat of %s: %v", u, err)
		}
	}
	_, err = f.checkoutFrom("cad", "t3", "alice", "ws9", "")
	wantDenied(t, err, `feature.cad.max["group:cad-team"]=2: group:cad-team holds 2`)
	if _, err := f.checkoutFrom("cad", "c4", "carol", "ws4", ""); err != nil {
		t.Fatalf("carol is in no group and on no kiosk: %v", err)
	}
}

func TestPolicyReserveKeepsSeatsForGroup(t *testing.T) {
	f := policyFixture(t, 3, map[string][]string{"cad-team": {"user:alice", "user:bob", "host:ws1*"}},
		usher.FeaturePolicySpec{Reserve: map[string]int{"group:cad-team": 2}})
	if _, err := f.checkoutFrom("cad", "o1", "olga", "pc1", ""); err != nil {
		t.Fatalf("the one seat not reserved: %v", err)
	}
	_, err := f.checkoutFrom("cad", "o2", "oscar", "pc2", "")
	wantDenied(t, err, `feature.cad.reserve["group:cad-team"]=2: 2 of 3 seats free, 2 kept for others`)
	if _, err := f.checkoutFrom("cad", "a1", "alice", "pc3", ""); err != nil {
		t.Fatalf("alice takes a reserved seat: %v", err)
	}
	if _, err := f.checkoutFrom("cad", "h1", "henry", "ws12", ""); err != nil {
		t.Fatalf("a member by host takes the last reserved seat: %v", err)
	}
	_, err = f.checkoutFrom("cad", "b1", "bob", "pc4", "")
	wantCode(t, err, usher.ENoSeats) // every seat taken: no_seats, not the policy
}

func TestPolicyReserveServesQueueInOrder(t *testing.T) {
	ctx := context.Background()
	f := policyFixture(t, 2, nil, usher.FeaturePolicySpec{Reserve: map[string]int{"user:alice": 1}})
	held, err := f.checkoutFrom("cad", "o1", "olga", "pc1", "")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := f.checkoutFrom("cad", "a1", "alice", "pc2", "")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan result, 2)
	for i, w := range []struct{ id, user string }{{"o2", "oscar"}, {"a2", "alice"}} {
		go func() {
			l, _, err := f.ledger.Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: w.id, User: w.user}, Wait: time.Minute})
			results <- result{w.id, l, err}
		}()
		waitWaiters(t, f.ledger, i+1)
	}
	// alice's seat frees: it is kept for her, so oscar, first in line, is
	// refused by the reserve and the second alice gets it.
	if err := f.ledger.Release(ctx, alice.ID, usher.Owner{}, false); err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for range 2 {
		r := <-results
		got[r.client] = r
	}
	wantDenied(t, got["o2"].err, `feature.cad.reserve["user:alice"]=1`)
	if got["a2"].err != nil {
		t.Fatalf("alice waiting in line: got %v, want the reserved seat", got["a2"].err)
	}
	_ = held
}

func TestPolicyDeniedWaiterIsNotQueued(t *testing.T) {
	f := policyFixture(t, 1, nil, usher.FeaturePolicySpec{Exclude: []string{"host:guest-*"}})
	_, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad",
		Client: usher.Client{ID: "g", User: "u", Host: "guest-3"}, Wait: time.Minute})
	wantDenied(t, err, `feature.cad.exclude["host:guest-*"]`)
	if n := len(f.ledger.Waiters()); n != 0 {
		t.Fatalf("got %d waiters, want none", n)
	}
}

func TestPolicyIncludeExcludeByEveryTrait(t *testing.T) {
	f := policyFixture(t, 10, nil, usher.FeaturePolicySpec{
		Include: []string{"addr:10.0.0.0/8", "client:ci-*"},
		Exclude: []string{"user:intern?", "addr:10.9.*"},
	})
	cases := []struct {
		client, user, addr string
		rule               string // "" if granted
	}{
		{"c1", "alice", "10.1.2.3", ""},
		{"ci-7", "bot", "192.168.1.1", ""},
		{"c2", "alice", "192.168.1.1", "feature.cad.include: user alice"},
		{"c3", "intern1", "10.1.2.3", `feature.cad.exclude["user:intern?"]`},
		{"c4", "bob", "10.9.0.1", `feature.cad.exclude["addr:10.9.*"]`},
		{"c5", "bob", "::ffff:10.1.1.1", ""},
	}
	for _, tc := range cases {
		_, err := f.checkoutFrom("cad", tc.client, tc.user, "h", tc.addr)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("%s from %s: got %v, want a lease", tc.user, tc.addr, err)
			}
			continue
		}
		wantDenied(t, err, tc.rule)
	}
}

func TestPolicyOverdraftAddsSeatsAndFlagsThem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	obs := &observed{}
	l, err := usher.OpenLedger(ctx, usher.LedgerConfig{Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, Observer: obs,
		Policy: mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Overdraft: 1}}})})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	f.add(usher.Grant{Feature: "cad", Seats: 2})
	for _, c := range []string{"a", "b", "c"} {
		f.mustCheckout("cad", c)
	}
	_, err = f.checkout("cad", "d")
	wantCode(t, err, usher.ENoSeats)
	var flags []string
	for _, ev := range obs.evs {
		if ev.Type == usher.EventLeaseGranted {
			flags = append(flags, ev.Reason)
		}
	}
	if want := []string{"", "", "overdraft: 3 of 2 licensed seats in use"}; !slices.Equal(flags, want) {
		t.Fatalf("grant reasons %q, want %q", flags, want)
	}
}

func TestPolicyDenialEventNamesRule(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	obs := &observed{}
	l, err := usher.OpenLedger(ctx, usher.LedgerConfig{Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive, Now: f.clock.Now, Observer: obs,
		Policy: mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"user:*": 1}}}})})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	f.checkoutFrom("cad", "c1", "alice", "h", "")
	f.checkoutFrom("cad", "c2", "alice", "h", "")
	last := obs.evs[len(obs.evs)-1]
	want := `policy_denied: feature.cad.max["user:*"]=1: user alice holds 1`
	if last.Type != usher.EventCheckoutDenied || last.Reason != want {
		t.Fatalf("got event %s %q, want checkout_denied %q", last.Type, last.Reason, want)
	}
}

// TestPolicyCountsSurviveChangeAndRestart: a policy set later counts the
// leases already held, and a reopened ledger given the policy too.
func TestPolicyCountsSurviveChangeAndRestart(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 5})
	if _, err := f.checkoutFrom("cad", "c1", "alice", "h", ""); err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"user:alice": 1}}}})
	f.ledger.SetPolicy(p)
	_, err := f.checkoutFrom("cad", "c2", "alice", "h", "")
	wantDenied(t, err, `feature.cad.max["user:alice"]=1`)
	f.reopen()
	f.ledger.SetPolicy(p)
	_, err = f.checkoutFrom("cad", "c2", "alice", "h", "")
	wantDenied(t, err, `feature.cad.max["user:alice"]=1`)
	f.ledger.SetPolicy(nil)
	if _, err := f.checkoutFrom("cad", "c2", "alice", "h", ""); err != nil {
		t.Fatalf("without a policy: %v", err)
	}
}

func TestPolicyCountsFollowExpiry(t *testing.T) {
	ctx := context.Background()
	f := policyFixture(t, 5, nil, usher.FeaturePolicySpec{Max: map[string]int{"user:*": 1}})
	if _, err := f.checkoutFrom("cad", "c1", "alice", "h", ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(keepalive + time.Second)
	if _, err := f.ledger.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.checkoutFrom("cad", "c2", "alice", "h", ""); err != nil {
		t.Fatalf("after alice's lease expired: %v", err)
	}
}

func TestCompilePolicyRefusesBadRules(t *testing.T) {
	cases := []struct {
		spec usher.PolicySpec
		want string
	}{
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"group:nope": 1}}}}, `no such group`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"client:x": 1}}}}, `reserve and max take`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Reserve: map[string]int{"user:a": -1}}}}, `give 0 or more`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Exclude: []string{"mac:x"}}}}, `unknown kind "mac"`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Include: []string{"addr:10.0.0.0/99"}}}}, `bad network`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Overdraft: -2}}}, `overdraft=-2`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Linger: "8d"}}}, `linger="8d"`},
		{usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Linger: "169h"}}}, `linger="169h"`},
		{usher.PolicySpec{Groups: map[string][]string{"g": {"group:h"}}}, `not other groups`},
		{usher.PolicySpec{Groups: map[string][]string{"g": {"alice"}}}, `write kind:pattern`},
	}
	for _, tc := range cases {
		_, err := usher.CompilePolicy(tc.spec)
		if usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CompilePolicy(%+v): got %v, want invalid_request containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestDiffPolicies(t *testing.T) {
	old := mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"user:*": 1}, Overdraft: 2}}})
	next := mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Max: map[string]int{"user:*": 2}, Overdraft: 2, Exclude: []string{"host:g*"}}}})
	d := usher.DiffPolicies(old, next)
	if want := []string{`feature.cad.exclude["host:g*"]`}; !slices.Equal(d.Added, want) {
		t.Errorf("added %q, want %q", d.Added, want)
	}
	if want := []string{`feature.cad.max["user:*"]=1 -> feature.cad.max["user:*"]=2`}; !slices.Equal(d.Changed, want) {
		t.Errorf("changed %q, want %q", d.Changed, want)
	}
	if d := usher.DiffPolicies(next, old); !slices.Equal(d.Removed, []string{`feature.cad.exclude["host:g*"]`}) {
		t.Errorf("removed %q, want the exclude rule", d.Removed)
	}
	if d := usher.DiffPolicies(nil, old); len(d.Added) != 2 || len(d.Removed) != 0 {
		t.Errorf("from no policy: %+v, want two added", d)
	}
}

func TestPolicyCheckReplaysCheckouts(t *testing.T) {
	p := mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {
		Max: map[string]int{"user:*": 1}, Exclude: []string{"host:guest-*"}}}})
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	alice := usher.Client{ID: "c1", User: "alice", Host: "ws1"}
	steps := []usher.PolicyStep{
		{Time: at(3), Feature: "cad", LeaseID: "l3", Client: alice, Source: "event"},
		{Time: at(1), Feature: "cad", LeaseID: "l1", Client: alice, Source: "event"},
		{Time: at(2), Feature: "cad", LeaseID: "l1", End: true},
		{Time: at(4), Feature: "cad", LeaseID: "l4", Client: alice, Source: "lease"},
		{Time: at(5), Feature: "cad", LeaseID: "l5", Client: usher.Client{ID: "g", User: "bob", Host: "guest-1"}, Source: "event"},
		{Time: at(6), Feature: "cam", LeaseID: "l6", Client: alice, Source: "event"},
	}
	got := p.Check(map[string]usher.Capacity{"cad": {Seats: 5}}, steps)
	if len(got) != 2 {
		t.Fatalf("got %d denials %+v, want 2", len(got), got)
	}
	if got[0].LeaseID != "l4" || got[0].Rule != `feature.cad.max["user:*"]=1: user alice holds 1` || got[0].Source != "lease" {
		t.Errorf("first denial %+v, want l4 by max", got[0])
	}
	if got[1].LeaseID != "l5" || !strings.HasPrefix(got[1].Rule, `feature.cad.exclude["host:guest-*"]`) {
		t.Errorf("second denial %+v, want l5 by exclude", got[1])
	}
}

// TestPolicyOverdraftServesTheLine: a policy that adds seats hands them to
// the checkouts waiting in line at once.
func TestPolicyOverdraftServesTheLine(t *testing.T) {
	f := newFixture(t)
	f.add(usher.Grant{Feature: "cad", Seats: 1})
	f.mustCheckout("cad", "holder")
	results := make(chan result, 1)
	go func() {
		l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "waiter"}, Wait: time.Minute})
		results <- result{"waiter", l, err}
	}()
	waitWaiters(t, f.ledger, 1)
	f.ledger.SetPolicy(mustPolicy(t, usher.PolicySpec{Features: map[string]usher.FeaturePolicySpec{"cad": {Overdraft: 1}}}))
	if r := <-results; r.err != nil {
		t.Fatalf("the waiter once an overdraft added a seat: got %v, want a lease", r.err)
	}
	if got := f.feature("cad").InUse; got != 2 {
		t.Fatalf("in use %d, want 2 of 1 licensed seat", got)
	}
}

// A checkout of several seats is admitted only if every seat it asks for
// fits the rules.
func TestPolicyCountsEverySeatOfAMultiSeatCheckout(t *testing.T) {
	f := policyFixture(t, 6, map[string][]string{"team": {"user:alice"}}, usher.FeaturePolicySpec{
		Max:     map[string]int{"user:*": 3},
		Reserve: map[string]int{"group:team": 2},
	})
	take := func(client, user string, n int) (usher.Lease, error) {
		l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{
			Feature: "cad", Client: usher.Client{ID: client, User: user, Host: "ws"}, Count: n,
		})
		return l, err
	}
	_, err := take("b1", "bob", 4)
	wantDenied(t, err, `feature.cad.max["user:*"]=3: user bob holds 0 and asks for 4 more`)
	if _, err := take("b2", "bob", 3); err != nil {
		t.Fatalf("bob's three seats: %v", err)
	}
	// 3 of 6 free, 2 kept for the team: carol may take one, not two.
	_, err = take("c1", "carol", 2)
	wantDenied(t, err, `feature.cad.reserve["group:team"]=2: 3 of 6 seats free, 2 kept for others`)
	if _, err := take("c2", "carol", 1); err != nil {
		t.Fatalf("carol's one seat: %v", err)
	}
	// Alice is the team: she may take both kept seats at once, not three.
	_, err = take("a1", "alice", 3)
	wantCode(t, err, usher.ENoSeats)
	if _, err := take("a2", "alice", 2); err != nil {
		t.Fatalf("alice's two kept seats: %v", err)
	}
}
