package daemon_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/hwkey/softhsmtest"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// useToken makes a server hold its identity in the SoftHSM2 token.
func useToken(tok *softhsmtest.Token) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.HardwareKeyModule, c.HardwareKeyToken, c.HardwareKeyPINFile = tok.Module, tok.Label, tok.PINFile
	}
}

// signForKey signs a license for s's vendor key that requires the
// hardware key serial.
func signForKey(t *testing.T, s *ushertest.Server, serial string, grants ...usher.Grant) []byte {
	t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), Grants: grants, RequireHardwareKey: serial}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func checkoutAs(c *apiclient.Client, feature, client string) (wire.LeaseResponse, error) {
	l, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client}})
	return l, err
}

// waitHardwareKey waits until GET /v1/features shows the hardware key of
// feature as state.
func waitHardwareKey(t *testing.T, c *apiclient.Client, feature, state string) {
	t.Helper()
	ushertest.WaitFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		fss, err := c.Features(context.Background())
		for _, fs := range fss {
			if fs.Name == feature && fs.HardwareKey == state {
				return nil
			}
		}
		return fmt.Errorf("feature %s: got %+v, %v, want hardware_key %s", feature, fss, err, state)
	})
}

func hasEvent(t *testing.T, c *apiclient.Client, typ string) error {
	evs, err := c.Events(context.Background(), wire.EventsQuery{Type: typ})
	if err != nil || len(evs) == 0 {
		return fmt.Errorf("events of type %s: got %d, %v, want one", typ, len(evs), err)
	}
	return nil
}

func TestHardwareKeyHoldsIdentity(t *testing.T) {
	tok := softhsmtest.New(t, "usher", "1234")
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: useToken(tok)})
	info := serverKey(t, s.URL())
	if info.HardwareID != tok.Serial {
		t.Fatalf("got hardware_id %q, want the token's serial %q", info.HardwareID, tok.Serial)
	}
	if got := s.Daemon.Info().HardwareKey; got != tok.Serial+" (present)" {
		t.Fatalf("got info hardware_key %q, want the serial, present", got)
	}
	pub := s.Daemon.IdentityKey().Public().(ed25519.PublicKey)
	if info.ServerKey != usher.FormatServerKey(pub) {
		t.Fatalf("got server_key %s, want the token's key %s", info.ServerKey, usher.FormatServerKey(pub))
	}
	s.Restart()
	if again := serverKey(t, s.URL()); again.ServerKey != info.ServerKey {
		t.Fatalf("after restart got server_key %s, want %s: the key made in the token", again.ServerKey, info.ServerKey)
	}
	s.Close() // one user of a PKCS#11 module per process
	fp, err := daemon.ReadFingerprint(t.TempDir(), newFakeHost("a").Traits)
	if err == nil {
		err = fp.UseHardwareKey(s.Config)
	}
	if err != nil || fp.ServerKey != info.ServerKey || fp.HardwareKey == nil || *fp.HardwareKey != tok.Serial {
		t.Fatalf("got fingerprint %+v, %v, want the token's key and serial", fp, err)
	}
}

func TestHardwareKeyUnplugged(t *testing.T) {
	tok := softhsmtest.New(t, "usher", "1234")
	ticks := make(chan time.Time)
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: useToken(tok), Daemon: daemon.Options{HardwareKeyTicks: ticks}})
	admin, ctx := s.Admin(), context.Background()
	if _, err := admin.AddLicense(ctx, signForKey(t, s, tok.Serial, usher.Grant{Feature: "cad", Seats: 2})); err != nil {
		t.Fatalf("add a license requiring the token: %v", err)
	}
	if _, err := admin.AddLicense(ctx, s.Sign(usher.Grant{Feature: "viewer", Seats: 1})); err != nil {
		t.Fatal(err)
	}
	held, err := checkoutAs(admin, "cad", "c1")
	if err != nil {
		t.Fatalf("checkout with the token in: %v", err)
	}
	key := serverKey(t, s.URL()).ServerKey

	tok.Unplug()
	ticks <- time.Now()
	waitHardwareKey(t, admin, "cad", usher.HardwareKeyAbsent)
	if _, err := checkoutAs(admin, "cad", "c2"); usher.ErrorCode(err) != usher.EHardwareKeyNotAccessible {
		t.Fatalf("checkout with the token out: got %v, want %s", err, usher.EHardwareKeyNotAccessible)
	}
	if _, err := checkoutAs(admin, "cad", "c1"); usher.ErrorCode(err) != usher.EHardwareKeyNotAccessible {
		t.Fatalf("checkout again by the lease's holder with the token out: got %v, want %s", err, usher.EHardwareKeyNotAccessible)
	}
	if st := wire.StatusOf(usher.EHardwareKeyNotAccessible); st != 400 {
		t.Fatalf("got status %d for hardware_key_not_accessible, want 400", st)
	}
	if _, err := admin.Heartbeat(ctx, held.ID); usher.ErrorCode(err) != usher.EHardwareKeyNotAccessible {
		t.Fatalf("heartbeat with the token out: got %v, want %s", err, usher.EHardwareKeyNotAccessible)
	}
	wantFeature(t, admin, "cad", usher.HardwareKeyAbsent, 1)
	if _, err := checkoutAs(admin, "viewer", "c1"); err != nil {
		t.Fatalf("checkout of a feature without the token: %v", err)
	}
	ushertest.WaitFor(t, 5*time.Second, 20*time.Millisecond, func() error { return hasEvent(t, admin, eventlog.EventHardwareKeyRemoved) })
	if got := s.Daemon.Info().HardwareKey; !strings.HasPrefix(got, "absent: ") {
		t.Fatalf("got info hardware_key %q with the token out, want absent and why", got)
	}

	tok.Replug()
	ticks <- time.Now()
	waitHardwareKey(t, admin, "cad", usher.HardwareKeyPresent)
	if _, err := admin.Heartbeat(ctx, held.ID); err != nil {
		t.Fatalf("heartbeat after the token came back: %v", err)
	}
	if _, err := checkoutAs(admin, "cad", "c2"); err != nil {
		t.Fatalf("checkout after the token came back: %v", err)
	}
	wantFeature(t, admin, "cad", usher.HardwareKeyPresent, 2)
	ushertest.WaitFor(t, 5*time.Second, 20*time.Millisecond, func() error { return hasEvent(t, admin, eventlog.EventHardwareKeyInserted) })
	if again := serverKey(t, s.URL()); again.ServerKey != key || again.HardwareID != tok.Serial {
		t.Fatalf("after replug got %+v, want server key %s and hardware id %s", again, key, tok.Serial)
	}
}

func wantFeature(t *testing.T, c *apiclient.Client, name, hw string, inUse int) {
	t.Helper()
	fss, err := c.Features(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, fs := range fss {
		if fs.Name == name {
			if fs.HardwareKey != hw || fs.InUse != inUse {
				t.Fatalf("got feature %+v, want hardware_key %q and %d in use", fs, hw, inUse)
			}
			return
		}
	}
	t.Fatalf("no feature %s in %+v", name, fss)
}

// TestHardwareKeyPoll checks that a real poll notices an unplugged token
// within hardware_key_poll + 3s, and that crash_if_no_hardware_key stops
// the server with an error.
func TestHardwareKeyPoll(t *testing.T) {
	tok := softhsmtest.New(t, "usher", "1234")
	s := ushertest.StartServer(t, ushertest.ServerOptions{Configure: func(c *daemon.Config) {
		useToken(tok)(c)
		c.HardwareKeyPoll = daemon.Duration(200 * time.Millisecond)
		c.CrashIfNoHardwareKey = true
	}})
	d := s.Daemon
	tok.Unplug()
	select {
	case <-d.Done():
	case <-time.After(200*time.Millisecond + 3*time.Second):
		t.Fatal("the server still runs 3s after a poll with its hardware key out, want it stopped (crash_if_no_hardware_key)")
	}
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "crash_if_no_hardware_key") {
		t.Fatalf("got Err %v, want why the server stopped", err)
	}
	s.Daemon = nil // stopped already
}

func TestHardwareKeyStartErrors(t *testing.T) {
	tok := softhsmtest.New(t, "usher", "1234")
	for name, tc := range map[string]struct {
		set  func(*daemon.Config)
		want string
	}{
		"wrong PIN":     {func(c *daemon.Config) { c.HardwareKeyPINFile = writeFile(t, "0000") }, "check hardware_key_pin_file"},
		"bad module":    {func(c *daemon.Config) { c.HardwareKeyModule = "/nonexistent/opensc-pkcs11.so" }, "install opensc"},
		"unknown token": {func(c *daemon.Config) { c.HardwareKeyToken = "other" }, `seen: "usher" (serial ` + tok.Serial},
	} {
		cfg := daemon.DefaultConfig()
		cfg.Data, cfg.Listen = filepath.Join(t.TempDir(), "data"), []string{"127.0.0.1:0"}
		useToken(tok)(&cfg)
		tc.set(&cfg)
		d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
		if err == nil {
			d.Close()
			t.Fatalf("%s: the server started, want an error", name)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %q, want it to say %q", name, err, tc.want)
		}
	}
}

func TestCheckNamesHardwareKeyFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		set  func(*daemon.Config)
		want string
	}{
		"module": {func(c *daemon.Config) { c.HardwareKeyModule = "/nonexistent/opensc-pkcs11.so" }, "hardware_key_module"},
		"PIN file": {func(c *daemon.Config) {
			c.HardwareKeyModule, c.HardwareKeyPINFile = writeFile(t, "module"), "/nonexistent/pin"
		}, "hardware_key_pin_file"},
	} {
		cfg := daemon.DefaultConfig()
		cfg.Data, cfg.Dev = filepath.Join(t.TempDir(), "data"), true
		if err := daemon.PrepareDev(&cfg); err != nil {
			t.Fatal(err)
		}
		tc.set(&cfg)
		if err := daemon.Check(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", name, err, tc.want)
		}
	}
}

func TestLicenseRequiringHardwareKeyRefusedWithoutOne(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{})
	_, err := s.Admin().AddLicense(context.Background(), signForKey(t, s, "4d2a9c51e0b3f7a8", usher.Grant{Feature: "cad", Seats: 1}))
	if usher.ErrorCode(err) != usher.ELicenseBoundElsewhere || !strings.Contains(err.Error(), "no hardware key") {
		t.Fatalf("got %v, want license_bound_elsewhere saying this server has no hardware key", err)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
