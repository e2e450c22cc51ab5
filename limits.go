package usher

import (
	"net/netip"
	"strings"
)

// Defaults of the per-address limits, for servers. They are generous on
// purpose: a NAT'd office, a terminal server or a build farm puts every
// client it serves behind one address (see docs/security.md).
const (
	DefaultMaxLeasesPerAddress  = 5000
	DefaultMaxWaitersPerAddress = 500
)

// AddressLimits bound what one client address may hold at once, so that
// one runaway script cannot fill the server's memory and store. Zero turns
// a limit off.
type AddressLimits struct {
	Leases  int // live leases
	Waiters int // checkouts waiting in line
}

// limitKey is what the per-address limits count by: the address, or for
// an IPv6 address its /64, which one client usually has whole (the
// connection caps count the same way).
func limitKey(addr string) string {
	if strings.IndexByte(addr, ':') < 0 {
		return addr // IPv4, or no address
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if ip = ip.Unmap(); ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// addrUse is what one client address holds.
type addrUse struct{ leases, waiters int }

// leaseLimitLocked refuses a new lease to an address that holds its limit.
func (l *Ledger) leaseLimitLocked(addr string) error {
	if l.limits.Leases <= 0 || addr == "" {
		return nil
	}
	addr = limitKey(addr)
	if u := l.byAddr[addr]; u.leases >= l.limits.Leases {
		return Errorf(ETooManyLeases, "client address %s holds %d leases, the most one address may hold (max_leases_per_address): release the leases you no longer need, or ask your admin to raise the limit", addr, u.leases)
	}
	return nil
}

// waiterLimitLocked refuses a place in line to an address that has its
// limit of waiters.
func (l *Ledger) waiterLimitLocked(addr string) error {
	if l.limits.Waiters <= 0 || addr == "" {
		return nil
	}
	addr = limitKey(addr)
	if u := l.byAddr[addr]; u.waiters >= l.limits.Waiters {
		return Errorf(ETooManyWaiters, "client address %s has %d checkouts waiting in line, the most one address may have (max_waiters_per_address): try again once some have ended, or ask your admin to raise the limit", addr, u.waiters)
	}
	return nil
}

// countLocked adds leases and waiters to what addr holds. It counts only
// what a limit bounds, and forgets an address that holds nothing.
func (l *Ledger) countLocked(addr string, leases, waiters int) {
	if l.limits.Leases <= 0 {
		leases = 0
	}
	if l.limits.Waiters <= 0 {
		waiters = 0
	}
	if addr == "" || leases == 0 && waiters == 0 {
		return
	}
	addr = limitKey(addr)
	u := l.byAddr[addr]
	u.leases += leases
	u.waiters += waiters
	if u.leases <= 0 && u.waiters <= 0 {
		delete(l.byAddr, addr)
		return
	}
	l.byAddr[addr] = u
}
