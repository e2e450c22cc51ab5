package client

import (
	"crypto/sha256"
	"encoding/hex"

	usher "github.com/usher-lm/usher"
)

// machineSecretTraits are the host traits MachineSecret may derive from,
// most stable first: the OS machine id survives hardware changes, the DMI
// product UUID an OS reinstall; a disk or network card can be swapped.
var machineSecretTraits = [...]string{usher.TraitMachineID, usher.TraitProductUUID, usher.TraitDiskSerial, usher.TraitMAC}

// MachineSecret returns a Licensee Secret derived from this machine, for
// Options.LicenseeSecret: the same on every run on this machine, and
// different on others. It reads the host traits usher server fingerprint
// reads, and derives the secret from the first one it can read, in this
// order: the OS machine id, the DMI product UUID (often readable by root
// only), the root disk's serial, the network cards' addresses. The traits
// themselves never leave the machine, only a hash of one.
//
// Errors: EUnavailable when no trait can be read here; set a secret of
// your own then.
func MachineSecret() (string, error) {
	return machineSecret(usher.ReadHostTraits())
}

func machineSecret(traits usher.HostTraits) (string, error) {
	for _, name := range machineSecretTraits {
		if h := traits[name]; h != "" {
			sum := sha256.Sum256([]byte("usher-machine-secret\x00" + name + "\x00" + h))
			return "ms1_" + hex.EncodeToString(sum[:]), nil
		}
	}
	return "", usher.Errorf(usher.EUnavailable, "no stable trait of this machine could be read (machine id, product uuid, disk serial, network card): set Options.LicenseeSecret to a secret of your own")
}
