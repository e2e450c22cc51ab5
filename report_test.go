package usher_test

import (
	"fmt"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// replay feeds a DemandReplay events given as offsets from t0 in seconds.
type replay struct {
	t0 time.Time
	d  *usher.DemandReplay
}

func newReplay() *replay {
	return &replay{t0: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), d: usher.NewDemandReplay()}
}

func (r *replay) add(sec float64, typ, lease string, waited time.Duration, reason string) {
	r.d.Add(usher.Event{Type: typ, Time: r.t0.Add(time.Duration(sec * float64(time.Second))), Feature: "cad",
		LeaseID: lease, Reason: reason, WaitedMS: waited.Milliseconds()})
}

func (r *replay) grant(sec float64, lease string) { r.add(sec, usher.EventLeaseGranted, lease, 0, "") }
func (r *replay) release(sec float64, lease string) {
	r.add(sec, usher.EventLeaseReleased, lease, 0, "")
}
func (r *replay) deny(sec float64, waited time.Duration) {
	r.add(sec, usher.EventCheckoutDenied, "", waited, usher.ENoSeats)
}

func TestDemandReplayEmpty(t *testing.T) {
	c, w := usher.NewDemandReplay().Result()
	if c != (usher.CapacityEstimate{}) || w != (usher.QueueWaits{}) {
		t.Errorf("got %+v %+v, want zero", c, w)
	}
}

// Three leases held at once need three seats.
func TestDemandReplayOverlap(t *testing.T) {
	r := newReplay()
	r.grant(0, "a")
	r.grant(1, "b")
	r.grant(2, "c")
	r.release(3, "a")
	r.release(4, "b")
	r.grant(5, "d") // c and d: 2
	got, _ := r.d.Result()
	if want := (usher.CapacityEstimate{Requests: 4, MaxDemand: 3, Seats: 3}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// One request in 200 met a demand of 2: one seat serves 99% of them. The
// checkouts span hours, so most requests are finished on the way.
func TestDemandReplayQuantile(t *testing.T) {
	r := newReplay()
	for i := range 199 {
		s := float64(i * 60)
		r.grant(s, fmt.Sprint(i))
		if i == 100 {
			r.deny(s+1, 0)
			r.add(s+2, usher.EventCheckoutDenied, "", 0, "policy_denied: not a capacity refusal")
		}
		r.release(s+30, fmt.Sprint(i))
	}
	got, _ := r.d.Result()
	if want := (usher.CapacityEstimate{Requests: 200, MaxDemand: 2, Seats: 1}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// With one seat: a holds it from 0s to 30s; b joins the line at 10s and
// gets the seat at 30s; c joins at 15s and gives up at 75s; d is refused
// at once at 20s. At 20s a holds, b and c wait and d asks: four seats.
func TestDemandReplayQueue(t *testing.T) {
	r := newReplay()
	r.grant(0, "a") // demand 1
	r.deny(20, 0)   // d: a, itself, and later b and c found waiting: 4
	r.release(30, "a")
	r.add(30, usher.EventLeaseGranted, "b", 20*time.Second, "") // at 10s: a and itself: 2
	r.deny(75, 60*time.Second)                                  // c at 15s: a, b waiting, itself: 3
	c, w := r.d.Result()
	if want := (usher.CapacityEstimate{Requests: 4, MaxDemand: 4, Seats: 4}); c != want {
		t.Errorf("capacity: got %+v, want %+v", c, want)
	}
	if want := (usher.QueueWaits{Granted: 1, GaveUp: 1, P50MS: 20000, P95MS: 20000, MaxMS: 20000}); w != want {
		t.Errorf("waits: got %+v, want %+v", w, want)
	}
}

// A lease granted before the period and released in it was held from the
// period's start.
func TestDemandReplayLeaseFromBefore(t *testing.T) {
	r := newReplay()
	r.grant(10, "y")   // x and y: 2
	r.release(50, "x") // granted before the replay
	r.grant(60, "z")   // y and z: 2
	r.release(70, "y")
	r.grant(80, "w") // z and w: 2
	r.grant(90, "v") // 3
	got, _ := r.d.Result()
	if want := (usher.CapacityEstimate{Requests: 4, MaxDemand: 3, Seats: 3}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A lingering seat is held from its release until the linger ends: the
// lease_released of a lingering lease ends nothing, its lease_expired does.
func TestDemandReplayLinger(t *testing.T) {
	r := newReplay()
	r.grant(0, "a")
	r.add(10, usher.EventLeaseReleased, "a", 0, usher.ReasonLingering)
	r.grant(20, "b") // a still lingers: 2
	r.add(30, usher.EventLeaseExpired, "a", 0, "")
	r.grant(40, "c")                                                   // b and c: 2
	r.add(50, usher.EventLeaseReleased, "x", 0, usher.ReasonLingering) // granted before the replay
	r.grant(60, "d")                                                   // x, b, c and d: 4
	r.add(70, usher.EventLeaseExpired, "x", 0, "")
	got, _ := r.d.Result()
	if want := (usher.CapacityEstimate{Requests: 4, MaxDemand: 4, Seats: 4}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestWaitStats(t *testing.T) {
	got := usher.WaitStats([]int64{5, 1, 3, 2, 4}, 2)
	if want := (usher.QueueWaits{Granted: 5, GaveUp: 2, P50MS: 3, P95MS: 5, MaxMS: 5}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	waits := make([]int64, 100)
	for i := range waits {
		waits[i] = int64(100 - i)
	}
	if got := usher.WaitStats(waits, 0); got.P50MS != 50 || got.P95MS != 95 || got.MaxMS != 100 {
		t.Errorf("1..100: got %+v, want p50 50, p95 95, max 100", got)
	}
}

// BenchmarkDemandReplay replays checkouts and releases of a busy feature
// (50 seats, a checkout a second, one in ten waiting in line, one in
// twenty refused), as a report over a long period does.
func BenchmarkDemandReplay(b *testing.B) {
	d := usher.NewDemandReplay()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var held []string
	b.ReportAllocs()
	for i := range b.N {
		at := t0.Add(time.Duration(i) * time.Second)
		switch {
		case i%20 == 19:
			d.Add(usher.Event{Type: usher.EventCheckoutDenied, Time: at, Feature: "cad", Reason: usher.ENoSeats})
		case len(held) < 50:
			id := fmt.Sprint("ls_", i)
			var waited int64
			if i%10 == 3 {
				waited = 30000
			}
			d.Add(usher.Event{Type: usher.EventLeaseGranted, Time: at, Feature: "cad", LeaseID: id, WaitedMS: waited})
			held = append(held, id)
		default:
			d.Add(usher.Event{Type: usher.EventLeaseReleased, Time: at, Feature: "cad", LeaseID: held[0]})
			held = held[1:]
		}
	}
	d.Result()
}
