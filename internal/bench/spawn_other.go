//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing where the OS has no parent-death signal.
func dieWithParent(*exec.Cmd) {}
