//go:build !windows

package winsvc

import (
	"context"
	"errors"
)

// errNotWindows is what the service commands answer off Windows.
var errNotWindows = errors.New("usher service manages a Windows service; on Linux, install the .deb or .rpm (a systemd unit), or see the README's Install section")

// IsService reports false: only Windows has a service control manager.
func IsService() (bool, error) { return false, nil }

// Run refuses off Windows.
func Run(string, func(ctx context.Context, started func()) error) error { return errNotWindows }

// Install refuses off Windows.
func Install(InstallConfig) error { return errNotWindows }

// Uninstall refuses off Windows.
func Uninstall(string) error { return errNotWindows }

// Start refuses off Windows.
func Start(string) error { return errNotWindows }

// Stop refuses off Windows.
func Stop(string) error { return errNotWindows }
