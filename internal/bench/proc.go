package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat. Linux
// reports them in USER_HZ, which is 100 on every mainstream architecture.
const clockTicks = 100

// procUsage is what Linux says about a process: resident memory now and
// at its peak, and CPU time spent so far.
type procUsage struct {
	RSS     int64
	PeakRSS int64
	CPU     time.Duration
}

// readProc reads /proc/PID/status and /proc/PID/stat.
func readProc(pid int) (procUsage, error) {
	var u procUsage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("read server memory: %w (the server must run on this host, on Linux)", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			u.RSS = parseKB(v)
		case "VmHWM":
			u.PeakRSS = parseKB(v)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("read server CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("read server CPU time: /proc/%d/stat is malformed", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("read server CPU time: /proc/%d/stat is malformed", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	u.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return u, nil
}

// parseKB parses "  1234 kB" into bytes.
func parseKB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n * 1024
}
