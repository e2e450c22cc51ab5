package daemon_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// fakeHost is a host whose traits a test changes.
type fakeHost struct {
	mu     sync.Mutex
	traits usher.HostTraits
}

func newFakeHost(name string) *fakeHost {
	h := &fakeHost{traits: usher.HostTraits{}}
	for _, t := range []string{usher.TraitMachineID, usher.TraitProductUUID, usher.TraitMAC, usher.TraitDiskSerial, usher.TraitHostname} {
		h.traits[t] = usher.HashTrait(t, name+"/"+t)
	}
	return h
}

func (h *fakeHost) Traits() usher.HostTraits {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := usher.HostTraits{}
	for k, v := range h.traits {
		out[k] = v
	}
	return out
}

func (h *fakeHost) change(names ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		h.traits[n] = usher.HashTrait(n, "changed")
	}
}

func startOnHost(t *testing.T, h *fakeHost) *ushertest.Server {
	t.Helper()
	return ushertest.StartServer(t, ushertest.ServerOptions{Daemon: daemon.Options{HostTraits: h.Traits, Version: "9.9.9"}})
}

// signBound signs a license for s's vendor key with the given bindings.
func signBound(t *testing.T, s *ushertest.Server, server ed25519.PublicKey, host usher.HostTraits, feature string) []byte {
	t.Helper()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: feature, Seats: 2}}, BindServer: server}
	if host != nil {
		lic.BindHost = &usher.HostBinding{Traits: host}
	}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func serverKey(t *testing.T, url string) wire.ServerIdentity {
	t.Helper()
	c := apiclient.MustNew(url, "") // no credential
	defer c.Close()
	info, err := c.Identity(context.Background())
	if err != nil {
		t.Fatalf("GET /v1/server: %v", err)
	}
	return info
}

func TestServerIdentityIsKeptAcrossRestarts(t *testing.T) {
	s := startOnHost(t, newFakeHost("a"))
	info := serverKey(t, s.URL())
	key, err := usher.ParseServerKey(info.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if info.GUID != usher.ServerGUID(key) || info.Version != "9.9.9" || info.HardwareID != daemon.HardwareID() {
		t.Fatalf("got %+v, want the guid of the key, version 9.9.9 and the hardware id", info)
	}
	st, err := os.Stat(filepath.Join(s.Config.Data, daemon.IdentityFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("got identity file %v, %v, want mode 0600", st, err)
	}
	s.Restart()
	if again := serverKey(t, s.URL()); again != info {
		t.Fatalf("after restart got %+v, want %+v", again, info)
	}
	fp, err := daemon.ReadFingerprint(s.Config.Data, newFakeHost("a").Traits)
	if err != nil || fp.ServerKey != info.ServerKey || fp.HostFingerprint != newFakeHost("a").Traits().String() {
		t.Fatalf("got fingerprint %+v, %v, want the server key and the host's traits", fp, err)
	}
}

func TestBoundLicenseRefusedAtAdd(t *testing.T) {
	h := newFakeHost("a")
	s := startOnHost(t, h)
	key, _ := usher.ParseServerKey(serverKey(t, s.URL()).ServerKey)
	other, _, _ := ed25519.GenerateKey(nil)
	ctx := context.Background()
	for name, text := range map[string][]byte{
		"other server": signBound(t, s, other, nil, "cad"),
		"other host":   signBound(t, s, nil, newFakeHost("b").Traits(), "cad"),
	} {
		_, err := s.Admin().AddLicense(ctx, text)
		if usher.ErrorCode(err) != usher.ELicenseBoundElsewhere || wire.StatusOf(usher.ELicenseBoundElsewhere) != 403 {
			t.Fatalf("%s: got %v, want license_bound_elsewhere (403)", name, err)
		}
	}
	added, err := s.Admin().AddLicense(ctx, signBound(t, s, key, h.Traits(), "cad"))
	if err != nil {
		t.Fatalf("add a license bound here: %v", err)
	}
	if added.BindServer != usher.FormatServerKey(key) || added.BindHost != h.Traits().String() || added.BindHostMin != 4 {
		t.Fatalf("got bindings %q %q %d, want the server key, the host and min 4", added.BindServer, added.BindHost, added.BindHostMin)
	}
	if _, _, err := s.Admin().Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}}); err != nil {
		t.Fatalf("checkout: %v", err)
	}
}

func TestBoundLicenseRefusedAtStartOnAnotherHost(t *testing.T) {
	h := newFakeHost("a")
	s := startOnHost(t, h)
	ctx := context.Background()
	lic, err := s.Admin().AddLicense(ctx, signBound(t, s, nil, h.Traits(), "cad"))
	if err != nil {
		t.Fatal(err)
	}
	h.change(usher.TraitMAC) // a new network card: still this host
	s.Restart()
	if _, _, err := s.Admin().Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}}); err != nil {
		t.Fatalf("checkout after a new network card: %v", err)
	}
	h.change(usher.TraitHostname) // and a new name: too many differences
	s.Restart()
	_, _, err = s.Admin().Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c2"}})
	if usher.ErrorCode(err) != usher.EFeatureNotFound {
		t.Fatalf("got %v, want the refused license's feature not served", err)
	}
	list, err := s.Admin().LicenseList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Licenses) != 0 || len(list.Refused) != 1 || list.Refused[0].ID != lic.ID || list.Refused[0].Code != usher.ELicenseBoundElsewhere ||
		!strings.Contains(list.Refused[0].Reason, "hostname, mac") {
		t.Fatalf("got %+v, want %s refused as bound elsewhere, naming hostname and mac", list, lic.ID)
	}
}

// copyDir copies the regular files of a data directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSameIdentityServesBoundLicensesOnce(t *testing.T) {
	h := newFakeHost("a")
	first := startOnHost(t, h)
	ctx := context.Background()
	key, _ := usher.ParseServerKey(serverKey(t, first.URL()).ServerKey)
	if _, err := first.Admin().AddLicense(ctx, signBound(t, first, key, nil, "cad")); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Admin().AddLicense(ctx, first.Sign(usher.Grant{Feature: "viewer", Seats: 1})); err != nil {
		t.Fatal(err)
	}
	first.Close()
	cfg := first.Config
	cfg.Data, cfg.Listen = filepath.Join(t.TempDir(), "copy"), []string{"127.0.0.1:0"}
	copyDir(t, first.Config.Data, cfg.Data)
	first.Start()

	second := ushertest.StartDaemon(t, cfg, daemon.Options{HostTraits: h.Traits})
	c := ushertest.AdminClient(t, second)
	_, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}})
	if usher.ErrorCode(err) != usher.ELicenseInUseElsewhere {
		t.Fatalf("second server: got %v, want license_in_use_elsewhere", err)
	}
	if _, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "viewer", Client: usher.Client{ID: "c1"}}); err != nil {
		t.Fatalf("second server, unbound feature: %v", err)
	}
	evs, err := c.Events(ctx, wire.EventsQuery{Type: "license_in_use_elsewhere"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("got events %+v, %v, want one license_in_use_elsewhere", evs, err)
	}
	if _, _, err := first.Admin().Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c1"}}); err != nil {
		t.Fatalf("first server: %v", err)
	}
	first.Close()
	ushertest.WaitFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, _, err := c.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "c2"}})
		return err
	})
}
