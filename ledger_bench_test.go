package usher_test

import (
	"context"
	"fmt"
	"testing"

	usher "github.com/usher-lm/usher"
)

// BenchmarkReclaimNothingDue measures one sweep over 100,000 held leases
// none of which is due: the sweeper must not cost in proportion to them.
func BenchmarkReclaimNothingDue(b *testing.B) {
	f := newFixture(b)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	for i := range 100_000 {
		if _, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.ledger.Reclaim(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
