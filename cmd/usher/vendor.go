package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/daemon"
)

func cmdVendor(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: keygen, issue, rehost, renew or unbind")
	}
	switch args[0] {
	case "keygen":
		return cmdVendorKeygen(e, args[1:])
	case "issue":
		return cmdVendorIssue(e, args[1:])
	case "rehost":
		return cmdVendorRehost(e, args[1:]) // rehost.go
	case "renew":
		return cmdVendorRenew(e, args[1:]) // meter.go
	case "unbind":
		return cmdVendorUnbind(e, args[1:]) // access.go
	}
	return usageErrorf("unknown subcommand %q: want keygen, issue, rehost, renew or unbind", args[0])
}

func cmdVendorKeygen(e *env, args []string) error {
	fs := newFlagSet(e, "vendor keygen", "vendor keygen --out DIR")
	out := fs.String("out", "", "`DIR` to write vendor.key and vendor.pub into")
	force := fs.Bool("force", false, "overwrite an existing key")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("--out DIR is required")
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	keyPath, pubPath := filepath.Join(*out, "vendor.key"), filepath.Join(*out, "vendor.pub")
	if _, err := os.Stat(keyPath); err == nil && !*force {
		return fmt.Errorf("%s exists: a new key would orphan every license it signed; use --force to replace it anyway", keyPath)
	}
	if err := daemon.WriteVendorKeys(keyPath, pubPath); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (private, mode 0600: keep it secret)\nwrote %s (ship it with Usher to your customers)\n", keyPath, pubPath)
	return nil
}

func cmdVendorIssue(e *env, args []string) error {
	fs := newFlagSet(e, "vendor issue", "vendor issue --key vendor.key --licensee NAME --feature NAME=SEATS[,starts=DATE][,expires=DATE][,key=value...] ... [--renewal-url URL] [--bind-server KEY] [--bind-volume VOLUME_ID] [--bind-host FINGERPRINT [--bind-host-min N]] [--require-hardware-key SERIAL] [--licensee-secret MODE [--secret-hash sha256:HEX]] [--out FILE [--force]]")
	keyPath := fs.String("key", "", "vendor private key `FILE`")
	licensee := fs.String("licensee", "", "who the license is for")
	out := fs.String("out", "", "write the license to `FILE` (default stdout)")
	force := fs.Bool("force", false, "overwrite an existing --out file")
	var specs []string
	renewalURL := fs.String("renewal-url", "", "`URL` of the directory the license's renewal files are published in (for renew_every grants)")
	fs.Func("feature", "`NAME=SEATS[,starts=DATE][,expires=DATE][,key=value...]`; SEATS is a number or unlimited; keys as in docs/licensing-models.md (repeatable)", func(v string) error {
		specs = append(specs, v)
		return nil
	})
	var bind bindFlags // fingerprint.go
	fs.StringVar(&bind.server, "bind-server", "", "bind the license to the server with this `SERVER_KEY` (usher server fingerprint prints it)")
	fs.StringVar(&bind.host, "bind-host", "", "bind the license to the host with this `HOST_FINGERPRINT` (usher server fingerprint prints it)")
	fs.IntVar(&bind.hostMin, "bind-host-min", 0, "how many host traits must match, `N` (default all but one)")
	fs.StringVar(&bind.volume, "bind-volume", "", "bind the license to the data volume with this `VOLUME_ID` (usher server fingerprint prints it)")
	fs.StringVar(&bind.hardwareKey, "require-hardware-key", "", "serve the license only while the hardware key with this `SERIAL` is plugged in (usher server fingerprint prints it)")
	var secret secretFlags // access.go
	secret.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *licensee == "" || len(specs) == 0 {
		return usageErrorf("--key, --licensee and at least one --feature are required")
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: *licensee, IssuedAt: time.Now(), RenewalURL: *renewalURL}
	for _, spec := range specs {
		g, err := parseFeatureSpec(spec)
		if err != nil {
			return usageErrorf("--feature %s: %v", spec, err)
		}
		lic.Grants = append(lic.Grants, g)
	}
	if err := bind.apply(lic); err != nil {
		return err
	}
	if err := secret.apply(lic); err != nil {
		return err
	}
	text, err := usher.Sign(lic, priv)
	if err != nil {
		return err
	}
	return emitSigned(e, *out, *force, text, fmt.Sprintf("license %s for %s", lic.ID, lic.Licensee))
}

// parseFeatureSpec parses "cad=5", "viewer=unlimited" or
// "sim=2,starts=2027-01-01,expires=2027-06-30,scope=host". A date alone
// starts at the beginning of that day and expires at its end, in UTC. Other
// key=value pairs are the grant's optional attributes (usher.Grant.SetAttr).
func parseFeatureSpec(spec string) (usher.Grant, error) {
	parts := strings.Split(spec, ",")
	name, seats, ok := strings.Cut(parts[0], "=")
	if !ok {
		return usher.Grant{}, errors.New("want NAME=SEATS")
	}
	g := usher.Grant{Feature: name}
	if seats == "unlimited" {
		g.Unlimited = true
	} else {
		n, err := strconv.Atoi(seats)
		if err != nil || n < 0 {
			return g, fmt.Errorf("seats %q: want a whole number >= 0 or unlimited", seats)
		}
		g.Seats = n
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		var err error
		switch k {
		case "starts":
			g.StartsAt, err = parseDate(v, false)
		case "expires":
			g.ExpiresAt, err = parseDate(v, true)
		default:
			err = g.SetAttr(k, v)
		}
		if err != nil {
			return g, err
		}
	}
	return withModelDefaults(g), nil
}

func parseDate(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return t, fmt.Errorf("date %q: want YYYY-MM-DD or an RFC 3339 time", v)
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Second)
	}
	return t, nil
}

// emitSigned writes a signed text to standard output, or, with --out, to
// a new file (see writeNew) and then says what it wrote: "wrote OUT: "
// and note.
func emitSigned(e *env, out string, force bool, text []byte, note string) error {
	if out == "" {
		_, err := e.stdout.Write(text)
		return err
	}
	if err := writeNew(out, text, force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s\n", out, note)
	return nil
}

// writeNew writes a license file, refusing to replace an existing one
// unless force is set: the file may be a license already sent.
func writeNew(path string, text []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: give another --out, or use --force to replace it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
