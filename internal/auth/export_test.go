package auth

// SetCheck replaces a's password check, so that tests can count and hold
// the checks without spending 19 MiB on each.
func SetCheck(a *Authority, check func(hash, password string) (bool, error)) { a.check = check }

// Tracked returns how many addresses and user names the login back-off
// remembers.
func Tracked(a *Authority) (addrs, users int) { return a.guard.addrs.size(), a.guard.users.size() }
