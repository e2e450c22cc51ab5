package usher_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
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

// benchOwner and benchAddr stand for the caller a server derives from a
// request, so that ownership checks and the per-address limits are paid.
var (
	benchOwner = usher.Owner{Kind: "address", ID: "192.0.2.7"}
	benchAddr  = "192.0.2.7"
)

// systemClockLedger opens a ledger on f's store as a server does: on the
// system clock, with the default per-address limits.
func systemClockLedger(b *testing.B, f *fixture) *usher.Ledger {
	l, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: f.store, Keyring: f.keys, KeepaliveTimeout: keepalive,
		Limits: usher.AddressLimits{Leases: usher.DefaultMaxLeasesPerAddress, Waiters: usher.DefaultMaxWaitersPerAddress}})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkCheckoutRelease measures a checkout and its release, the pair
// every short-lived application makes, from parallel clients.
func BenchmarkCheckoutRelease(b *testing.B) {
	f := newFixture(b)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	f.ledger = systemClockLedger(b, f)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		req := usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint("c", n.Add(1))}, Owner: benchOwner, Addr: benchAddr}
		for pb.Next() {
			l, _, err := f.ledger.Checkout(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.ledger.Release(context.Background(), l.ID, benchOwner, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHeartbeat measures the most frequent call: renewing a lease,
// with 10,000 others held.
func BenchmarkHeartbeat(b *testing.B) {
	f := newFixture(b)
	f.add(usher.Grant{Feature: "cad", Unlimited: true})
	f.ledger = systemClockLedger(b, f)
	ids := make([]string, 10_000)
	for i := range ids {
		l, _, err := f.ledger.Checkout(context.Background(), usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: fmt.Sprint(i)}, Owner: benchOwner})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = l.ID
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1))
		for pb.Next() {
			if _, err := f.ledger.Heartbeat(context.Background(), ids[i%len(ids)], benchOwner); err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
}

// BenchmarkLeaseMemory reports the heap one held lease costs the ledger
// (heap-bytes/lease), from 100,000 leases held at once.
func BenchmarkLeaseMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		f := newFixture(b)
		f.add(usher.Grant{Feature: "cad", Unlimited: true})
		led, err := usher.OpenLedger(context.Background(), usher.LedgerConfig{Store: discardLeases{f.store}, Keyring: f.keys, Now: f.clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("c_%024x", i) // as long as the SDK's
		}
		before := heapInUse()
		for _, id := range ids {
			// Fresh strings, as decoding a request makes: the lease keeps them.
			addr := strings.Clone(benchAddr) // as a request's remote address is
			req := usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: strings.Clone(id), User: strings.Clone("alice"), Host: strings.Clone("ws12.example.com")},
				Owner: usher.Owner{Kind: "address", ID: addr}, Addr: addr}
			if _, _, err := led.Checkout(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "heap-bytes/lease")
		runtime.KeepAlive(led)
	}
}

// discardLeases keeps licenses but no leases, so that a measure of the
// ledger's memory does not count the store's.
type discardLeases struct{ *memStore }

func (discardLeases) PutLease(context.Context, usher.Lease) error { return nil }

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
