package daemon

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/config"
	"github.com/usher-lm/usher/internal/discovery/lan"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/hwkey"
)

// hardwareKey is the hardware key that holds a server's identity, and
// whether it is accessible now.
type hardwareKey struct {
	tok    *hwkey.Token // nil: no hardware key
	gate   usher.BindingGate
	failed atomic.Pointer[error] // why the server stopped itself (crash_if_no_hardware_key)
}

// needsCgo is what a build without cgo says of hardware keys.
const needsCgo = "hardware keys need the cgo build of usher: this one cannot use hardware_key_module"

// loadIdentityKey returns the identity key: the one in the hardware key
// when hardware_key_module is set, else the data directory's.
func (d *Daemon) loadIdentityKey() (crypto.Signer, *hwkey.Token, error) {
	if !hwkey.Supported {
		d.logger.Info(needsCgo)
	}
	if d.cfg.HardwareKeyModule == "" {
		key, err := LoadIdentity(d.cfg.Data)
		return key, nil, err
	}
	pin, err := hwkey.ReadPIN(d.cfg.HardwareKeyPINFile)
	if err != nil {
		return nil, nil, err
	}
	tok, err := hwkey.Open(hwkey.Config{Module: d.cfg.HardwareKeyModule, Token: d.cfg.HardwareKeyToken, PIN: pin})
	if errors.Is(err, hwkey.ErrNeedsCgo) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hardware key: %w", err)
	}
	d.logger.Info("server identity held in the hardware key", "serial", tok.Serial())
	return tok, tok, nil
}

// startHardwareKeyWatch checks the hardware key every hardware_key_poll
// (or at every tick of Options.HardwareKeyTicks) until Close.
func (d *Daemon) startHardwareKeyWatch() {
	ticks := d.opts.HardwareKeyTicks
	var stop func()
	if ticks == nil {
		poll := time.Duration(d.cfg.HardwareKeyPoll)
		if poll <= 0 {
			poll = config.DefaultHardwareKeyPoll
		}
		t := time.NewTicker(poll)
		ticks, stop = t.C, t.Stop
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if stop != nil {
			defer stop()
		}
		for {
			select {
			case <-d.ctx.Done():
				return
			case <-ticks:
				d.checkHardwareKey()
			}
		}
	}()
}

// checkHardwareKey has the key sign a fresh challenge, and blocks or opens
// the licenses that require it when that changes. With
// crash_if_no_hardware_key the server stops itself instead.
func (d *Daemon) checkHardwareKey() {
	hw := &d.ident.hw
	err := hw.tok.Check()
	_, wasAbsent := hw.gate.Blocked()
	switch {
	case err != nil && !wasAbsent:
		why := "hardware key " + hw.tok.Serial() + " is not accessible: " + err.Error()
		hw.gate.Block(why)
		d.logger.Warn("licenses that require the hardware key are not served: "+why, "serial", hw.tok.Serial())
		d.events.Record(usher.Event{Type: eventlog.EventHardwareKeyRemoved, Reason: why})
		d.announce(lan.EventKeyRemoved)
		if d.cfg.CrashIfNoHardwareKey {
			stopErr := errors.New(why + "; stopping, as crash_if_no_hardware_key says")
			hw.failed.Store(&stopErr)
			d.logger.Error("stopping: " + stopErr.Error())
			d.Shutdown()
		}
	case err == nil && wasAbsent:
		hw.gate.Open()
		d.logger.Info("licenses that require the hardware key are served again: it is back", "serial", hw.tok.Serial())
		d.events.Record(usher.Event{Type: eventlog.EventHardwareKeyInserted, Reason: "hardware key " + hw.tok.Serial()})
		d.announce(lan.EventKeyInserted)
	}
}

// Err returns why the daemon stopped itself, if it did: the hardware key
// went away and crash_if_no_hardware_key is set. The program that runs it
// exits non-zero then.
func (d *Daemon) Err() error {
	if d.ident == nil {
		return nil
	}
	if err := d.ident.hw.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// hardwareKeyGate returns the gate of the licenses that require the
// hardware key, nil when the server has none.
func (d *Daemon) hardwareKeyGate() *usher.BindingGate {
	if d.ident.hw.tok == nil {
		return nil
	}
	return &d.ident.hw.gate
}

// hardwareID returns the server's hardware ID: the serial of the hardware
// key that holds its identity (unplugged or not: the identity stays
// there), else the machine's (HardwareID).
func (d *Daemon) hardwareID() string {
	if d.ident != nil && d.ident.hw.tok != nil {
		return d.ident.hw.tok.Serial()
	}
	return HardwareID()
}

// hardwareKeyInfo says what usher info shows of the hardware key.
func (d *Daemon) hardwareKeyInfo() string {
	switch {
	case d.ident == nil || d.ident.hw.tok == nil:
		if !hwkey.Supported {
			return "none: " + needsCgo
		}
		return "none"
	default:
		if why, absent := d.ident.hw.gate.Blocked(); absent {
			return "absent: " + why
		}
		return d.ident.hw.tok.Serial() + " (present)"
	}
}

// closeHardwareKey logs out of the hardware key.
func (d *Daemon) closeHardwareKey() {
	if d.ident != nil && d.ident.hw.tok != nil {
		d.ident.hw.tok.Close()
	}
}

// UseHardwareKey makes fp the fingerprint of a server whose identity the
// hardware key of cfg holds: that key's public half and its serial.
func (fp *Fingerprint) UseHardwareKey(cfg Config) error {
	pin, err := hwkey.ReadPIN(cfg.HardwareKeyPINFile)
	if err != nil {
		return err
	}
	tok, err := hwkey.Open(hwkey.Config{Module: cfg.HardwareKeyModule, Token: cfg.HardwareKeyToken, PIN: pin})
	if err != nil {
		return fmt.Errorf("hardware key: %w", err)
	}
	defer tok.Close()
	serial := tok.Serial()
	fp.ServerKey, fp.HardwareKey = usher.FormatServerKey(tok.Public().(ed25519.PublicKey)), &serial
	return nil
}

// checkHardwareKey checks what usher server check can tell of the hardware
// key without opening it (a running server may hold it): that this build
// can use one, that the module and the PIN file can be read.
func checkHardwareKey(cfg Config) error {
	if cfg.HardwareKeyModule == "" {
		return nil
	}
	if !hwkey.Supported {
		return hwkey.ErrNeedsCgo
	}
	if _, err := os.Stat(cfg.HardwareKeyModule); err != nil {
		return fmt.Errorf("hardware_key_module: %w: give the path of a PKCS#11 module (install opensc for YubiKey and smart cards, softhsm2 for SoftHSM2)", err)
	}
	_, err := hwkey.ReadPIN(cfg.HardwareKeyPINFile)
	return err
}
