package client_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
)

// startExampleServer starts an in-process Usher server on 127.0.0.1:0 with
// one seat of feature "cad", for the examples. It returns the server's
// address and a function that stops it and removes its data.
func startExampleServer() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "usher-example-")
	if err != nil {
		panic(err)
	}
	keyPath, pubPath := filepath.Join(dir, "vendor.key"), filepath.Join(dir, "vendor.pub")
	if err := daemon.WriteVendorKeys(keyPath, pubPath); err != nil {
		panic(err)
	}
	cfg := daemon.DefaultConfig()
	cfg.Data, cfg.VendorKey, cfg.Listen = filepath.Join(dir, "data"), []string{pubPath}, []string{"127.0.0.1:0"}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		panic(err)
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		panic(err)
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: "Example", IssuedAt: time.Now().Add(-time.Hour),
		Grants: []usher.Grant{{Feature: "cad", Seats: 1}}}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		panic(err)
	}
	if _, err := d.Ledger().AddLicense(context.Background(), text); err != nil {
		panic(err)
	}
	return d.Addrs()[0].String(), func() {
		_ = d.Close()
		_ = os.RemoveAll(dir)
	}
}
