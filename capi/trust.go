package main

import (
	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// applyTrust maps the options of signed leases and of the Licensee Secret
// onto the SDK's: with vendor_keys, every checkout and heartbeat is
// verified as the Go SDK's Options.VendorKeys verifies it, and an answer
// that fails fails with untrusted_server.
func applyTrust(opts *client.Options, o clientOptions) error {
	for _, k := range o.VendorKeys {
		opts.VendorKeys = append(opts.VendorKeys, []byte(k))
	}
	opts.LicenseeSecret = o.LicenseeSecret
	return nil
}

// countOption maps the count of checkout_json onto the SDK's Count.
func countOption(n int) ([]client.CheckoutOption, error) {
	if n < 1 {
		return nil, usher.Errorf(usher.EInvalid, "checkout_json: count %d is not a number of seats: give 1 or more, or leave count out", n)
	}
	return []client.CheckoutOption{client.Count(n)}, nil
}
