package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

func TestVendorKeysReachTheSDK(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := usher.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var opts client.Options
	if err := applyTrust(&opts, clientOptions{VendorKeys: []string{string(pem)}}); err != nil {
		t.Fatalf("applyTrust: %v", err)
	}
	if len(opts.VendorKeys) != 1 || string(opts.VendorKeys[0]) != string(pem) {
		t.Fatalf("the SDK's VendorKeys are %q, want the PEM text given", opts.VendorKeys)
	}
	opts.Servers = []string{"127.0.0.1:1"}
	c, err := client.New(opts)
	if err != nil {
		t.Fatalf("client with a good vendor key: %v", err)
	}
	c.Close()

	var bad client.Options
	if err := applyTrust(&bad, clientOptions{VendorKeys: []string{"not a key"}}); err != nil {
		t.Fatal(err)
	}
	bad.Servers = []string{"127.0.0.1:1"}
	if c, err := client.New(bad); err == nil {
		c.Close()
		t.Error("a client with a vendor key that is not PEM was made")
	}
}
