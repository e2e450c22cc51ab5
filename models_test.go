package usher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// TestUnservedAttributeRefused checks that a license using a grant
// attribute the ledger does not enforce is refused, not served without it.
func TestUnservedAttributeRefused(t *testing.T) {
	f := newFixture(t)
	_, err := f.ledger.AddLicense(context.Background(), f.sign(usher.Grant{Feature: "cad", Seats: 1, Borrow: time.Hour}))
	wantCode(t, err, usher.ELicenseInvalid)
	if !strings.Contains(err.Error(), "borrow=") {
		t.Fatalf("got %v, want it to name borrow=", err)
	}
}
