package usher_test

import (
	"context"
	"fmt"
	"testing"

	usher "github.com/usher-lm/usher"
)

// benchPolicy is 20 rules on feature cad, none of which refuses the
// benchmark's clients: what docs/benchmarks.md measures.
var benchPolicy = usher.PolicySpec{
	Groups: map[string][]string{"cad-team": {"user:alice", "user:bob", "host:ws1*"}, "contractors": {"user:ext-*", "host:ext-*"}},
	Features: map[string]usher.FeaturePolicySpec{"cad": {
		Include: []string{"addr:192.0.2.0/24", "addr:10.0.0.0/8", "client:*"},
		Exclude: []string{"host:guest-*", "host:kiosk*", "user:intern?", "addr:192.168.*", "client:blocked-*"},
		Max: map[string]int{"user:*": 1 << 30, "host:*": 1 << 30, "host:render*": 10, "group:contractors": 5,
			"group:cad-team": 1 << 30, "user:alice": 2},
		Reserve:   map[string]int{"group:cad-team": 2, "user:vip": 1, "host:ws1*": 1},
		Overdraft: 2,
	}},
}

// BenchmarkCheckoutReleasePolicy is BenchmarkCheckoutRelease with no
// policy and with benchPolicy in force, on a license of many seats.
func BenchmarkCheckoutReleasePolicy(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec *usher.PolicySpec
	}{{"none", nil}, {"20rules", &benchPolicy}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			f.add(usher.Grant{Feature: "cad", Seats: 1 << 20})
			f.ledger = systemClockLedger(b, f)
			if tc.spec != nil {
				p, err := usher.CompilePolicy(*tc.spec)
				if err != nil {
					b.Fatal(err)
				}
				f.ledger.SetPolicy(p)
			}
			ctx := context.Background()
			req := usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c", User: "bench", Host: "bench"}, Owner: benchOwner, Addr: benchAddr}
			for i := 0; b.Loop(); i++ {
				req.Client.ID = fmt.Sprint("c", i%64)
				l, _, err := f.ledger.Checkout(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.ledger.Release(ctx, l.ID, benchOwner, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
