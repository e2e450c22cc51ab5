package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child server stop if the bench dies without
// stopping it, so that no throwaway server outlives its run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
