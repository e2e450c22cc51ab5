package main

import (
	"fmt"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
)

// cmdServerFingerprint prints what a customer sends the vendor to have a
// license bound to this server or host.
func cmdServerFingerprint(e *env, args []string) error {
	fs := newFlagSet(e, "server fingerprint", "server fingerprint [--data DIR] [--hardware-key-module PATH [--hardware-key-token LABEL] [--hardware-key-pin-file FILE]] [--json]")
	data := fs.String("data", e.getenv("USHER_DATA"), "the server's data `DIR` (default $USHER_DATA); its identity is created there if absent")
	var hw daemon.Config
	fs.StringVar(&hw.HardwareKeyModule, "hardware-key-module", e.getenv("USHER_HARDWARE_KEY_MODULE"), "`PATH` of the PKCS#11 module of the server's hardware key (default $USHER_HARDWARE_KEY_MODULE)")
	fs.StringVar(&hw.HardwareKeyToken, "hardware-key-token", e.getenv("USHER_HARDWARE_KEY_TOKEN"), "`LABEL` or serial of the hardware key (default $USHER_HARDWARE_KEY_TOKEN)")
	fs.StringVar(&hw.HardwareKeyPINFile, "hardware-key-pin-file", e.getenv("USHER_HARDWARE_KEY_PIN_FILE"), "`FILE` holding its PIN (default $USHER_HARDWARE_KEY_PIN_FILE)")
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
	if hw.HardwareKeyModule != "" {
		if err := fp.UseHardwareKey(hw); err != nil {
			return err
		}
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
	serial := "none"
	if fp.HardwareKey != nil {
		serial = *fp.HardwareKey
	}
	fmt.Fprintln(e.stdout, "hardware_key_serial: "+serial)
	fmt.Fprintln(e.stdout, "\nSend server_key (for --bind-server), volume_id (for --bind-volume), host_fingerprint (for --bind-host) or hardware_key_serial (for --require-hardware-key) to the vendor.")
	return nil
}

// bindFlags are the vendor issue flags that bind a license.
type bindFlags struct {
	server, host, volume, hardwareKey string
	hostMin                           int
}

// apply sets the bindings of lic from the flags.
func (b *bindFlags) apply(lic *usher.License) error {
	lic.RequireHardwareKey = b.hardwareKey
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
