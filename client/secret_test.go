package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

func TestLicenseeSecretOption(t *testing.T) {
	s := MustStartServer(t, time.Second, map[string]int{"viewer": 1})
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "cad", Seats: 2}}, LicenseeSecret: usher.SecretClient}
	text, err := usher.Sign(lic, s.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger().AddLicense(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	secret, err := client.MachineSecret()
	if err != nil {
		t.Skipf("no machine trait readable here: %v", err)
	}
	ctx := context.Background()
	bare := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "bare"})
	if _, err := bare.Checkout(ctx, "cad"); !errors.Is(err, usher.ErrLicenseeSecretRequired) {
		t.Fatalf("checkout without a secret: got %v, want %s", err, usher.ELicenseeSecretRequired)
	}
	mine := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "mine", LicenseeSecret: secret})
	lease, err := mine.Checkout(ctx, "cad")
	if err != nil {
		t.Fatalf("checkout with the machine secret: %v", err)
	}
	if b, ok := s.Ledger().SecretBinding(lic.ID); !ok || b.Hash != usher.HashSecret(secret) {
		t.Fatalf("got binding %+v (%v), want the hash of the machine secret", b, ok)
	}
	if got := s.LeasesOf("mine"); len(got) != 1 || got[0].Client.Secret != "" {
		t.Fatalf("got leases %+v, want one without the secret", got)
	}
	other := MustNew(t, client.Options{Servers: []string{s.Addr()}, ClientID: "other", LicenseeSecret: "another machine"})
	if _, err := other.Checkout(ctx, "cad"); !errors.Is(err, usher.ErrLicenseeSecretMismatch) {
		t.Fatalf("checkout with another secret: got %v, want %s", err, usher.ELicenseeSecretMismatch)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMachineSecretIsStableAndPerMachine(t *testing.T) {
	a, err := client.MachineSecretOf(usher.HostTraits{usher.TraitMachineID: usher.HashTrait(usher.TraitMachineID, "a"), usher.TraitMAC: "m"})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := client.MachineSecretOf(usher.HostTraits{usher.TraitMachineID: usher.HashTrait(usher.TraitMachineID, "a"), usher.TraitMAC: "other card"})
	b, _ := client.MachineSecretOf(usher.HostTraits{usher.TraitMachineID: usher.HashTrait(usher.TraitMachineID, "b")})
	if a != again || a == b || !strings.HasPrefix(a, "ms1_") {
		t.Fatalf("got %q, %q (same machine, new network card), %q (another machine): want the first two equal, the third not", a, again, b)
	}
	if _, err := client.MachineSecretOf(usher.HostTraits{usher.TraitHostname: "h"}); usher.ErrorCode(err) != usher.EUnavailable {
		t.Fatalf("only a host name: got %v, want unavailable", err)
	}
	x, err1 := client.MachineSecret()
	y, err2 := client.MachineSecret()
	if x != y || (err1 == nil) != (err2 == nil) {
		t.Fatalf("MachineSecret twice: got %q (%v) and %q (%v), want the same", x, err1, y, err2)
	}
}
