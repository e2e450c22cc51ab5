//go:build !unix

package main

import "errors"

// reexec reports that this system cannot replace a running process.
func reexec() error {
	return errors.New("restart: this system cannot start a process again in place: start the server again")
}
