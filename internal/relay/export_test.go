package relay

import "time"

// WantedSeats exposes the hysteresis window to the tests.
type WantedSeats struct{ w wantedSeats }

func (w *WantedSeats) Observe(t time.Time, seats int) { w.w.observe(t, seats) }
func (w *WantedSeats) Peak(since time.Time) int       { return w.w.peak(since) }

// PickIdle returns the seats of the block leases pickIdle gives back.
func PickIdle(seats []int, idle int) []int {
	leases := make([]*upLease, len(seats))
	for i, n := range seats {
		leases[i] = &upLease{seats: n}
	}
	var out []int
	for _, u := range pickIdle(leases, idle) {
		out = append(out, u.seats)
	}
	return out
}
