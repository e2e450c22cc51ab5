// Package winsvc runs the Usher server as a Windows service. The service
// control manager's protocol is kept here as a small state machine over
// plain Go types (Execute), which the Windows adapter (service_windows.go)
// feeds from golang.org/x/sys/windows/svc, so that the machine is tested
// on every platform.
package winsvc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// DefaultName is the service's name when install is given none.
const DefaultName = "usher"

// State is a service state as the service control manager knows it.
type State int

// The states the server reports.
const (
	Stopped State = iota + 1
	StartPending
	StopPending
	Running
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case StartPending:
		return "start pending"
	case StopPending:
		return "stop pending"
	case Running:
		return "running"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Cmd is a request of the service control manager.
type Cmd int

// The requests the server answers; any other is answered with its status.
const (
	CmdInterrogate Cmd = iota + 1
	CmdStop
	CmdShutdown
)

// Status is what the server reports: its state, whether it accepts stop
// and shutdown requests, how long the pending step may take, and the
// exit code once stopped (0, or ExitFailed).
type Status struct {
	State    State
	Accepts  bool
	WaitHint time.Duration
	ExitCode uint32
}

// ExitFailed is the service-specific exit code of a server that stopped
// on an error; the service control manager then applies the recovery
// actions install set (restart).
const ExitFailed = 1

// StopWaitHint is how long the server says a stop may take: the graceful
// shutdown's bound.
const StopWaitHint = 30 * time.Second

// Execute runs one service run: it reports StartPending, runs run with a
// context that ends when a CmdStop or CmdShutdown request comes, reports
// Running once run has called started, answers CmdInterrogate with the current
// status, and reports Stopped with the exit code when run returns. It
// returns when requests is closed or run has returned and Stopped has
// been reported, and logs run's error with logf.
func Execute(run func(ctx context.Context, started func()) error, requests <-chan Cmd, report func(Status), logf func(format string, args ...any)) uint32 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	current := Status{State: StartPending, WaitHint: StopWaitHint}
	set := func(s Status) { current = s; report(s) }
	set(current)

	startedCh := make(chan struct{})
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- run(ctx, func() { once.Do(func() { close(startedCh) }) })
	}()
	for {
		select {
		case <-startedCh:
			startedCh = nil
			if current.State == StartPending {
				set(Status{State: Running, Accepts: true})
			}
		case cmd, ok := <-requests:
			if !ok {
				requests = nil
				cancel()
				continue
			}
			switch cmd {
			case CmdStop, CmdShutdown:
				if current.State != StopPending {
					set(Status{State: StopPending, WaitHint: StopWaitHint})
					cancel()
				}
			default:
				report(current)
			}
		case err := <-done:
			code := uint32(0)
			if err != nil && !errors.Is(err, context.Canceled) {
				logf("usher server stopped: %v", err)
				code = ExitFailed
			}
			set(Status{State: Stopped, ExitCode: code})
			return code
		}
	}
}

// InstallConfig is what install registers: the service's name, the
// binary, and the server's configuration file and data directory.
type InstallConfig struct {
	Name   string
	Exe    string
	Config string // a TOML file; "" takes the environment's and flags' settings only
	Data   string // the data directory; "" takes the config's
	// LogFile is where the server writes its log: the data directory's
	// usher.log by default, as a service has no console.
	LogFile string
}

// ServiceArgs returns the arguments the service control manager starts
// the binary with: "service run" with the service's name, then "server"
// and the paths, made absolute (a service runs in the system directory).
func (c InstallConfig) ServiceArgs() ([]string, error) {
	args := []string{"service", "run", "--name", c.Name, "server"}
	for _, f := range []struct{ flag, path string }{{"--config", c.Config}, {"--data", c.Data}, {"--log-file", c.logFile()}} {
		if f.path == "" {
			continue
		}
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", f.flag, f.path, err)
		}
		args = append(args, f.flag, abs)
	}
	return args, nil
}

func (c InstallConfig) logFile() string {
	if c.LogFile != "" || c.Data == "" {
		return c.LogFile
	}
	return filepath.Join(c.Data, "usher.log")
}

// Validate refuses a configuration the service could not start from.
func (c InstallConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("service name is empty: give --name, or leave it out for " + DefaultName)
	case c.Config == "" && c.Data == "":
		return errors.New("give --config FILE or --data DIR: a service has no environment of its own to take them from")
	}
	return nil
}
