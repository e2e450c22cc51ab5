package main

import (
	"fmt"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
)

// cmdServerFingerprint prints what a customer sends the vendor to have a
// license bound to this server or host.
func cmdServerFingerprint(e *env, args []string) error {
	fs := newFlagSet(e, "server fingerprint", "server fingerprint [--data DIR] [--json]")
	data := fs.String("data", e.getenv("USHER_DATA"), "the server's data `DIR` (default $USHER_DATA); its identity is created there if absent")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageErrorf("give the server's data directory with --data (or USHER_DATA)")
	}
	fp, err := daemon.ReadFingerprint(*data, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, fp)
	}
	fmt.Fprintf(e.stdout, "server_key:       %s\nvolume_id:        %s\nhost_fingerprint: %s\n", fp.ServerKey, fp.VolumeID, fp.HostFingerprint)
	for _, name := range []string{usher.TraitMachineID, usher.TraitProductUUID, usher.TraitMAC, usher.TraitDiskSerial, usher.TraitHostname} {
		h, ok := fp.Traits[name]
		if !ok {
			h = "(not readable here)"
		}
		fmt.Fprintf(e.stdout, "  %-13s %s\n", name+":", h)
	}
	fmt.Fprintln(e.stdout, "hardware_key_serial: none")
	fmt.Fprintln(e.stdout, "\nSend server_key (for --bind-server), volume_id (for --bind-volume) or host_fingerprint (for --bind-host) to the vendor.")
	return nil
}

// bindFlags are the vendor issue flags that bind a license.
type bindFlags struct {
	server, host, volume string
	hostMin              int
}

// apply sets the bindings of lic from the flags.
func (b *bindFlags) apply(lic *usher.License) error {
	if b.server != "" {
		key, err := usher.ParseServerKey(b.server)
		if err != nil {
			return usageErrorf("--bind-server: %s", usher.ErrorMessage(err))
		}
		lic.BindServer = key
	}
	if b.volume != "" {
		id, err := usher.ParseVolumeID(b.volume)
		if err != nil {
			return usageErrorf("--bind-volume: %s", usher.ErrorMessage(err))
		}
		lic.BindVolume = id
	}
	if b.host == "" {
		if b.hostMin != 0 {
			return usageErrorf("--bind-host-min needs --bind-host")
		}
		return nil
	}
	traits, err := usher.ParseHostFingerprint(b.host)
	if err != nil {
		return usageErrorf("--bind-host: %s", usher.ErrorMessage(err))
	}
	lic.BindHost = &usher.HostBinding{Traits: traits, Min: b.hostMin}
	return nil
}
