package daemon_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// TestClusterFailoverKeepsSecretBindingAndUsers binds a license in client
// mode and registers a user through the deciding node, kills it, and
// checks that the node deciding next refuses another secret and the
// unregistered user, and serves the bound secret and the registered user.
func TestClusterFailoverKeepsSecretBindingAndUsers(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Test", IssuedAt: time.Now().Add(-time.Hour), LicenseeSecret: usher.SecretClient,
		Grants: []usher.Grant{{Feature: "cad", Seats: 3}, {Feature: "sim", Seats: 2, Users: usher.UsersNamed}}}
	text, err := usher.Sign(lic, c.Vendor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(dec).AddLicense(ctx, text); err != nil {
		t.Fatal(err)
	}
	checkout := func(node int, feature, client, user, secret string) error {
		_, _, err := c.Client(node).Checkout(ctx, wire.CheckoutRequest{Feature: feature, Client: usher.Client{ID: client, User: user, Secret: secret}})
		return err
	}
	if err := checkout(dec, "cad", "c1", "", "machine-a"); err != nil {
		t.Fatalf("binding checkout: %v", err)
	}
	if _, err := c.Client(dec).Assign(ctx, "sim", []string{"alice"}); err != nil {
		t.Fatalf("assign: %v", err)
	}
	c.Kill(dec)
	other := (dec + 1) % 3
	err = ushertest.RetryUnavailable(30*time.Second, func() error { return checkout(other, "cad", "c2", "", "machine-b") })
	if usher.ErrorCode(err) != usher.ELicenseeSecretMismatch {
		t.Fatalf("another secret after failover: got %v, want %s", err, usher.ELicenseeSecretMismatch)
	}
	if err := checkout(other, "cad", "c3", "", "machine-a"); err != nil {
		t.Fatalf("the bound secret after failover: %v", err)
	}
	if err := checkout(other, "sim", "c4", "bob", "machine-a"); usher.ErrorCode(err) != usher.EUserNotRegistered {
		t.Fatalf("unregistered user after failover: got %v, want %s", err, usher.EUserNotRegistered)
	}
	if err := checkout(other, "sim", "c5", "alice", "machine-a"); err != nil {
		t.Fatalf("registered user after failover: %v", err)
	}
	users, err := c.Client(other).FeatureUsers(ctx, "sim")
	if err != nil || len(users.Users) != 1 || users.Users[0].LastCheckoutAt.IsZero() {
		t.Fatalf("users after failover: got %+v, %v, want alice with her last checkout", users, err)
	}
}
