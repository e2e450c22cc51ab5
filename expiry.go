package usher

import (
	"sort"
	"time"
)

// expiryList orders live leases by expiry so that the sweeper looks only at
// those that are due, not at every lease. A heartbeat moves its lease to
// the back: with one keep-alive timeout for all, the back is always the
// latest expiry. When the timeout shrinks, leases renewed afterwards would
// expire before older ones; the list is then re-sorted once.
type expiryList struct {
	head, tail *entry
	n          int
}

func (x *expiryList) pushBack(e *entry) {
	e.prev, e.next = x.tail, nil
	if x.tail != nil {
		x.tail.next = e
	} else {
		x.head = e
	}
	x.tail = e
	x.n++
}

func (x *expiryList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if x.head == e {
		x.head = e.next
	} else {
		return // not in the list
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		x.tail = e.prev
	}
	e.prev, e.next = nil, nil
	x.n--
}

// moveToBack is called after e's expiry moved to the latest.
func (x *expiryList) moveToBack(e *entry) {
	if x.tail == e {
		return
	}
	x.remove(e)
	x.pushBack(e)
}

// due calls fn for the leases at the front whose deadline is before the
// monotonic reading now, stopping at the first that is not.
func (x *expiryList) due(now time.Duration, fn func(*entry)) {
	for e := x.head; e != nil && now > e.deadline; {
		next := e.next
		fn(e)
		e = next
	}
}

// resort puts the list back in expiry order.
func (x *expiryList) resort() {
	all := make([]*entry, 0, x.n)
	for e := x.head; e != nil; e = e.next {
		all = append(all, e)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].deadline < all[j].deadline })
	*x = expiryList{}
	for _, e := range all {
		x.pushBack(e)
	}
}
