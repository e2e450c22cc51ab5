package main

import (
	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// applyTrust maps the options of signed leases and of the Licensee Secret
// onto the SDK's. The SDK this library is built from does not verify
// signed leases, so a client that asks for it is refused rather than run
// without the protection it asked for.
func applyTrust(opts *client.Options, o clientOptions) error {
	if len(o.VendorKeys) > 0 {
		return usher.Errorf(usher.EInvalid, "options_json: vendor_keys is not supported by this libusher: its SDK does not verify signed leases; build libusher from a release that does, or leave vendor_keys out")
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
