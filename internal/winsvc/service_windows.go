//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// IsService reports whether the process was started by the service
// control manager.
func IsService() (bool, error) { return svc.IsWindowsService() }

// Run runs the server under the service control manager until it asks
// the service to stop. Starts, stops and failures go to the Windows event
// log under the service's name.
func Run(name string, run func(ctx context.Context, started func()) error) error {
	elog, err := eventlog.Open(name)
	if err != nil {
		return fmt.Errorf("open the event log source %s: %w (was the service installed with usher service install?)", name, err)
	}
	defer elog.Close()
	elog.Info(1, "usher server starting")
	err = svc.Run(name, &handler{run: run, elog: elog})
	if err != nil {
		elog.Error(1, "usher service failed: "+err.Error())
		return err
	}
	elog.Info(1, "usher server stopped")
	return nil
}

type handler struct {
	run  func(ctx context.Context, started func()) error
	elog *eventlog.Log
}

// Execute adapts the service control manager's channels to the state
// machine's.
func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	requests := make(chan Cmd)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(requests)
		for {
			select {
			case c, ok := <-r:
				if !ok {
					return
				}
				select {
				case requests <- toCmd(c.Cmd):
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	code := Execute(h.run, requests, func(st Status) { s <- toStatus(st) }, func(format string, args ...any) {
		h.elog.Error(1, fmt.Sprintf(format, args...))
	})
	return code != 0, code
}

func toCmd(c svc.Cmd) Cmd {
	switch c {
	case svc.Stop:
		return CmdStop
	case svc.Shutdown:
		return CmdShutdown
	}
	return CmdInterrogate
}

func toStatus(st Status) svc.Status {
	out := svc.Status{WaitHint: uint32(st.WaitHint / time.Millisecond), ServiceSpecificExitCode: st.ExitCode}
	switch st.State {
	case StartPending:
		out.State = svc.StartPending
	case Running:
		out.State = svc.Running
	case StopPending:
		out.State = svc.StopPending
	default:
		out.State = svc.Stopped
	}
	if st.Accepts {
		out.Accepts = svc.AcceptStop | svc.AcceptShutdown
	}
	return out
}

// Install registers the service to start automatically, restarting it
// after a failure, with an event log source of its name.
func Install(c InstallConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	args, err := c.ServiceArgs()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w (run as an administrator)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(c.Name); err == nil {
		s.Close()
		return fmt.Errorf("service %s is installed already: usher service uninstall --name %s first", c.Name, c.Name)
	}
	s, err := m.CreateService(c.Name, c.Exe, mgr.Config{
		DisplayName: "Usher license server",
		Description: "Serves the floating licenses of vendor-signed license files to the network.",
		StartType:   mgr.StartAutomatic,
	}, args...)
	if err != nil {
		return fmt.Errorf("create service %s: %w", c.Name, err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		s.Delete()
		return fmt.Errorf("set the restart-on-failure actions: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(c.Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		s.Delete()
		return fmt.Errorf("register the event log source %s: %w", c.Name, err)
	}
	return nil
}

// Uninstall stops the service if it runs and removes it and its event
// log source. The data directory stays.
func Uninstall(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := stopService(s); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	if err := eventlog.Remove(name); err != nil {
		return fmt.Errorf("remove the event log source %s: %w", name, err)
	}
	return nil
}

// Start starts the installed service.
func Start(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service %s: %w (see the Windows event log and the server's log file)", name, err)
	}
	return waitFor(s, svc.Running)
}

// Stop stops the service and waits until it has stopped.
func Stop(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	return stopService(s)
}

func open(name string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the service control manager: %w (run as an administrator)", err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("service %s is not installed: %w", name, err)
	}
	return m, s, nil
}

func stopService(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service: %w", err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil {
		return fmt.Errorf("stop service: %w", err)
	}
	return waitFor(s, svc.Stopped)
}

// waitFor polls the service's state until it is want, for at most the
// stop wait hint and a little more.
func waitFor(s *mgr.Service, want svc.State) error {
	deadline := time.Now().Add(StopWaitHint + 10*time.Second)
	for time.Now().Before(deadline) {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service: %w", err)
		}
		if st.State == want {
			return nil
		}
		if want == svc.Running && st.State == svc.Stopped {
			return errors.New("the service stopped while starting: see the Windows event log and the server's log file")
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("the service did not reach the state %d in time", want)
}
