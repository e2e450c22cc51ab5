package winsvc_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/usher-lm/usher/internal/winsvc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scm plays the service control manager: it records every status and
// sends requests.
type scm struct {
	requests chan winsvc.Cmd
	statuses chan winsvc.Status
}

func newSCM() *scm {
	return &scm{requests: make(chan winsvc.Cmd), statuses: make(chan winsvc.Status, 16)}
}

func (s *scm) execute(run func(context.Context, func()) error) <-chan uint32 {
	out := make(chan uint32, 1)
	go func() {
		out <- winsvc.Execute(run, s.requests, func(st winsvc.Status) { s.statuses <- st }, func(string, ...any) {})
	}()
	return out
}

func (s *scm) want(t *testing.T, want winsvc.State) winsvc.Status {
	t.Helper()
	got := <-s.statuses
	if got.State != want {
		t.Fatalf("status %v, want %v", got.State, want)
	}
	return got
}

func TestStopRequestStopsTheServerGracefully(t *testing.T) {
	s := newSCM()
	stopped := make(chan struct{})
	code := s.execute(func(ctx context.Context, started func()) error {
		started()
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	})
	if st := s.want(t, winsvc.StartPending); st.Accepts {
		t.Error("accepts stop while starting")
	}
	if st := s.want(t, winsvc.Running); !st.Accepts {
		t.Error("running but does not accept stop")
	}
	s.requests <- winsvc.CmdInterrogate
	s.want(t, winsvc.Running)
	s.requests <- winsvc.CmdStop
	if st := s.want(t, winsvc.StopPending); st.WaitHint != winsvc.StopWaitHint {
		t.Errorf("stop wait hint %v, want %v", st.WaitHint, winsvc.StopWaitHint)
	}
	<-stopped
	if st := s.want(t, winsvc.Stopped); st.ExitCode != 0 {
		t.Errorf("exit code %d after a stop, want 0", st.ExitCode)
	}
	if c := <-code; c != 0 {
		t.Errorf("Execute = %d, want 0", c)
	}
}

func TestShutdownWhileStartingStops(t *testing.T) {
	s := newSCM()
	code := s.execute(func(ctx context.Context, started func()) error {
		<-ctx.Done() // never started: the machine shuts down first
		return nil
	})
	s.want(t, winsvc.StartPending)
	s.requests <- winsvc.CmdShutdown
	s.want(t, winsvc.StopPending)
	s.want(t, winsvc.Stopped)
	if c := <-code; c != 0 {
		t.Errorf("Execute = %d, want 0", c)
	}
}

func TestFailingServerStopsWithExitCode(t *testing.T) {
	s := newSCM()
	code := s.execute(func(ctx context.Context, started func()) error {
		started()
		return errors.New("vendor_key: no vendor public key set")
	})
	s.want(t, winsvc.StartPending)
	// Running may or may not be reported before the failure lands.
	st := <-s.statuses
	if st.State == winsvc.Running {
		st = <-s.statuses
	}
	if st.State != winsvc.Stopped || st.ExitCode != winsvc.ExitFailed {
		t.Errorf("final status %+v, want stopped with exit code %d", st, winsvc.ExitFailed)
	}
	if c := <-code; c != winsvc.ExitFailed {
		t.Errorf("Execute = %d, want %d", c, winsvc.ExitFailed)
	}
}

func TestServiceArgsAreAbsoluteAndLogToTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	c := winsvc.InstallConfig{Name: "usher", Config: filepath.Join(dir, "usher.toml"), Data: filepath.Join(dir, "data")}
	got, err := c.ServiceArgs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"service", "run", "--name", "usher", "server", "--config", filepath.Join(dir, "usher.toml"), "--data", filepath.Join(dir, "data"), "--log-file", filepath.Join(dir, "data", "usher.log")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ServiceArgs = %q, want %q", got, want)
	}
	if err := (winsvc.InstallConfig{Name: "usher"}).Validate(); err == nil {
		t.Error("Validate accepts a service with neither config nor data directory")
	}
}
