package config

import "time"

// DefaultHardwareKeyPoll is how often the server checks its hardware key.
const DefaultHardwareKeyPoll = 2 * time.Second

// HardwareKey is the part of Config about the hardware key (a PKCS#11
// token) that holds the server's identity. Its keys sit at the top level
// of the TOML file.
type HardwareKey struct {
	HardwareKeyModule    string   `toml:"hardware_key_module"`
	HardwareKeyToken     string   `toml:"hardware_key_token"`
	HardwareKeyPINFile   string   `toml:"hardware_key_pin_file"`
	HardwareKeyPoll      Duration `toml:"hardware_key_poll"`
	CrashIfNoHardwareKey bool     `toml:"crash_if_no_hardware_key"`
}
