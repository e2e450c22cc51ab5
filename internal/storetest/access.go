package storetest

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// testAccessRoundTrip checks that Licensee Secret bindings and registered
// users outlive a reopen, that a put replaces, and that deletes stay.
func testAccessRoundTrip(t *testing.T, open func() usher.Store) {
	ctx := context.Background()
	s := open()
	at := time.Date(2026, 12, 1, 5, 0, 0, 123456789, time.UTC)
	binds := []usher.SecretBinding{
		{LicenseID: "lic_a", Hash: usher.HashSecret("one"), BoundAt: at},
		{LicenseID: "lic_b", Hash: usher.HashSecret("two"), BoundAt: at.Add(time.Second)},
	}
	for _, b := range binds {
		if err := s.PutSecretBinding(ctx, b); err != nil {
			t.Fatalf("PutSecretBinding: %v", err)
		}
	}
	binds[0].Hash = usher.HashSecret("three")
	if err := s.PutSecretBinding(ctx, binds[0]); err != nil {
		t.Fatalf("PutSecretBinding again: %v", err)
	}
	if err := s.DeleteSecretBinding(ctx, "lic_b"); err != nil {
		t.Fatalf("DeleteSecretBinding: %v", err)
	}
	regs := []usher.Registration{
		{Feature: "cad", User: "alice", RegisteredAt: at},
		{Feature: "cad", User: "bob/ws 1", RegisteredAt: at},
		{Feature: "viewer", User: "alice", RegisteredAt: at},
	}
	if err := s.PutRegistrations(ctx, regs); err != nil {
		t.Fatalf("PutRegistrations: %v", err)
	}
	regs[0].LastCheckoutAt = at.Add(time.Minute)
	if err := s.PutRegistrations(ctx, regs[:1]); err != nil {
		t.Fatalf("PutRegistrations again: %v", err)
	}
	if err := s.DeleteRegistrations(ctx, []string{usher.RegistrationID("viewer", "alice"), "reg_missing"}); err != nil {
		t.Fatalf("DeleteRegistrations: %v", err)
	}
	s = reopen(t, s, open)
	snap := mustLoad(t, s)
	if len(snap.SecretBindings) != 1 || snap.SecretBindings[0].LicenseID != "lic_a" ||
		snap.SecretBindings[0].Hash != binds[0].Hash || !snap.SecretBindings[0].BoundAt.Equal(at) {
		t.Fatalf("got bindings %+v, want only %+v", snap.SecretBindings, binds[0])
	}
	got := map[string]usher.Registration{}
	for _, r := range snap.Registrations {
		got[r.User] = r
	}
	if len(snap.Registrations) != 2 || !got["alice"].LastCheckoutAt.Equal(regs[0].LastCheckoutAt) ||
		!got["bob/ws 1"].LastCheckoutAt.IsZero() || !got["bob/ws 1"].RegisteredAt.Equal(at) || got["alice"].Feature != "cad" {
		t.Fatalf("got registrations %+v, want alice (with her last checkout) and bob of cad", snap.Registrations)
	}
	if id := got["alice"].ID; id != usher.RegistrationID("cad", "alice") {
		t.Fatalf("got registration id %q, want %q", id, usher.RegistrationID("cad", "alice"))
	}
}
