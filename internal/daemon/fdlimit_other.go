//go:build !unix

package daemon

// raiseFileLimit does nothing where there is no RLIMIT_NOFILE: 0 says
// the limit is unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }
