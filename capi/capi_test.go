package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
)

// keepalive is short so that heartbeats come every few hundred
// milliseconds and a restart is seen quickly.
const keepalive = 2 * time.Second

// TestLibrary builds libusher as a shared library and as a static archive
// once, compiles the C example against each and the C++ example against
// the shared one, and runs them against a real server.
func TestLibrary(t *testing.T) {
	gcc := ushertest.Tool(t, "gcc", "CC")
	gxx := ushertest.Tool(t, "g++", "CC")
	dir := t.TempDir()
	buildLibrary(t, dir)

	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "checkout-shared")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "examples/checkout.c", "-I.", "-L"+dir, "-lusher")
		holdAcrossRestart(t, bin, dir)
	})
	t.Run("static", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "checkout-static")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "examples/checkout.c", "-I.", filepath.Join(dir, "libusher.a"), "-lpthread")
		holdAcrossRestart(t, bin, dir)
	})
	t.Run("cpp", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "raii")
		compile(t, gxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-o", bin, "examples/raii.cpp", "-I.", "-L"+dir, "-lusher")
		s := startServer(t)
		out := run(t, bin, dir, s.Addr(), "cad")
		for _, want := range []string{"second client refused: no_seats_available", "second client checked out cad: alive 1"} {
			if !strings.Contains(out, want) {
				t.Errorf("raii printed %q, want a line %q", out, want)
			}
		}
		ushertest.WaitFor(t, 5*time.Second, 20*time.Millisecond, ushertest.Until("no lease left after the clients closed", func() bool { return len(s.Ledger().Leases()) == 0 }))
	})
	t.Run("threads", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "threads")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "testdata/threads.c", "-I.", "-L"+dir, "-lusher", "-lpthread")
		s := startServer(t, map[string]int{"cad": 1, "cam": 1, "eda": 1, "sim": 1})
		if out := run(t, bin, dir, s.Addr()); out != "ok\n" {
			t.Errorf("threads printed %q, want ok", out)
		}
		if n := len(s.Ledger().Leases()); n != 0 {
			t.Errorf("the server holds %d leases after the threads released theirs, want 0", n)
		}
	})
	t.Run("secret", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "secret")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "testdata/secret.c", "-I.", "-L"+dir, "-lusher")
		licenseeSecret(t, bin, dir)
	})
	t.Run("count", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "count")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "testdata/count.c", "-I.", "-L"+dir, "-lusher")
		s := startServer(t, map[string]int{"cad": 3})
		p := startProgram(t, command(bin, dir, s.Addr(), "2"))
		p.expect(t, "ok")
		if got := s.Ledger().Features()[0].InUse; got != 2 {
			t.Errorf("cad has %d seats in use after a checkout with count 2, want 2", got)
		}
		p.send(t, "\n")
		p.wait(t)
		p = startProgram(t, command(bin, dir, s.Addr(), "0"))
		p.expect(t, "invalid_request")
		p.send(t, "\n")
		p.wait(t)
	})
	t.Run("lost", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(dir, "lost")
		compile(t, gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, "testdata/lost.c", "-I.", "-L"+dir, "-lusher", "-lpthread")
		loseSeat(t, bin, dir)
	})
}

// buildLibrary builds libusher.so and libusher.a into dir, at once.
func buildLibrary(t *testing.T, dir string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, mode := range []string{"c-shared", "c-archive"} {
		wg.Go(func() {
			out := filepath.Join(dir, map[string]string{"c-shared": "libusher.so", "c-archive": "libusher.a"}[mode])
			cmd := exec.Command(gobin, "build", "-buildmode="+mode, "-o", out, ".")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build -buildmode=%s: %v\n%s", mode, err, b)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func compile(t *testing.T, cc string, args ...string) {
	t.Helper()
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(cc), strings.Join(args, " "), err, out)
	}
}

// startServer starts a server with seats of each feature; by default
// one seat of "cad".
func startServer(t *testing.T, seats ...map[string]int) *ushertest.Server {
	if len(seats) == 0 {
		seats = append(seats, map[string]int{"cad": 1})
	}
	return ushertest.StartServer(t, ushertest.ServerOptions{
		Seats: seats[0],
		Configure: func(cfg *daemon.Config) {
			cfg.KeepaliveTimeout = daemon.Duration(keepalive)
			cfg.KeepaliveScanInterval = daemon.Duration(keepalive / 4)
		},
	})
}

// command returns a program run with the library in dir and server in
// USHER_SERVER.
func command(bin, libdir, server string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "USHER_SERVER="+server, "LD_LIBRARY_PATH="+libdir, "USHER_CLIENT_TOKEN=")
	return cmd
}

// run runs a program to its end and returns its output; it fails the
// test if the program fails.
func run(t *testing.T, bin, libdir, server string, args ...string) string {
	t.Helper()
	cmd := command(bin, libdir, server, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), err, out, stderr.String())
	}
	return string(out)
}

// holdAcrossRestart runs the checkout example: it checks out, keeps the
// seat while the server restarts, and releases it when told.
func holdAcrossRestart(t *testing.T, bin, libdir string) {
	s := startServer(t)
	p := startProgram(t, command(bin, libdir, s.Addr(), "cad"))
	p.expect(t, "checked out cad")
	if n := len(s.Ledger().Leases()); n != 1 {
		t.Fatalf("the server holds %d leases after the checkout, want 1", n)
	}

	s.Restart()
	restarted := time.Now()
	ushertest.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		leases := s.Ledger().Leases()
		if len(leases) != 1 || !leases[0].LastHeartbeat.After(restarted) {
			return fmt.Errorf("leases %+v, want one heartbeated after the restart at %s; stderr: %s", leases, restarted, p.stderr.String())
		}
		return nil
	})

	p.send(t, "\n")
	p.expect(t, "released cad")
	p.wait(t)
	if n := len(s.Ledger().Leases()); n != 0 {
		t.Errorf("the server holds %d leases after the release, want 0", n)
	}
}

// program is a C program the test talks to line by line.
type program struct {
	cmd    *exec.Cmd
	stdin  io.Writer
	lines  *bufio.Scanner
	stderr *ushertest.Buffer
}

// startProgram starts cmd, killed when the test ends if still running.
func startProgram(t *testing.T, cmd *exec.Cmd) *program {
	t.Helper()
	p := &program{cmd: cmd, stderr: &ushertest.Buffer{}}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.lines = bufio.NewScanner(stdout)
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// expect reads the next line of output and fails unless it is want.
func (p *program) expect(t *testing.T, want string) {
	t.Helper()
	if !p.lines.Scan() {
		t.Fatalf("the program ended its output, want a line %q; stderr: %s", want, p.stderr.String())
	}
	if got := p.lines.Text(); got != want {
		t.Fatalf("the program printed %q, want %q; stderr: %s", got, want, p.stderr.String())
	}
}

func (p *program) send(t *testing.T, text string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, text); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the program to exit and fails unless it succeeded.
func (p *program) wait(t *testing.T) {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("the program: %v; stderr: %s", err, p.stderr.String())
	}
}

// loseSeat runs testdata/lost.c: once it holds the seat, the test kicks
// its lease and takes the seat, so that the client cannot check out again
// and calls the lease-lost callback.
func loseSeat(t *testing.T, bin, libdir string) {
	s := startServer(t)
	p := startProgram(t, command(bin, libdir, s.Addr(), "cad"))
	p.expect(t, "checked out")
	leases := s.Ledger().Leases()
	if len(leases) != 1 {
		t.Fatalf("the server holds %d leases, want 1", len(leases))
	}
	ctx := context.Background()
	if err := s.Ledger().Release(ctx, leases[0].ID, leases[0].Owner, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Ledger().Checkout(ctx, usher.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "thief"}}); err != nil {
		t.Fatal(err)
	}
	p.send(t, "\n")
	p.expect(t, "lost no_seats_available 1 alive 0")
	p.expect(t, "ok")
	p.wait(t)
}

// TestDocExamples checks that docs/sdk-c.md shows the examples the tests
// compile, as they are.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/sdk-c.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"examples/checkout.c", "examples/raii.cpp"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "\n"+string(src)+"```\n") {
			t.Errorf("docs/sdk-c.md does not show %s as it is: copy the file into its code block", name)
		}
	}
}

// licenseeSecret runs testdata/secret.c against a license in Licensee
// Secret client mode: the first secret binds it, another is refused.
func licenseeSecret(t *testing.T, bin, libdir string) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{})
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "cad", Seats: 3}}, LicenseeSecret: usher.SecretClient}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, secret, want string }{
		{"first", "alpha", "ok"},
		{"second", "alpha", "ok"},
		{"third", "beta", "licensee_secret_mismatch"},
		{"fourth", "", "licensee_secret_required"},
	} {
		if got := strings.TrimSpace(run(t, bin, libdir, s.Addr(), c.id, c.secret)); got != c.want {
			t.Errorf("checkout as %s with secret %q: got %s, want %s", c.id, c.secret, got, c.want)
		}
	}
}
