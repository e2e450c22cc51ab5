package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"time"

	usher "github.com/usher-lm/usher"
)

// cmdLicenseRelease gives a license up for good on this server and writes
// the receipt the vendor needs to issue it for another server.
func cmdLicenseRelease(ctx context.Context, e *env, args []string) error {
	var out string
	var force bool
	c, a, pos, err := adminCommandWith(e, "license release", "license release ID [--out FILE [--force]] [--json]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "write the receipt to `FILE` (default stdout)")
		fs.BoolVar(&force, "force", false, "overwrite an existing --out file")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one license id")
	}
	res, err := c.ReleaseLicense(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, res)
	}
	if out == "" {
		_, err := fmt.Fprint(e.stdout, res.Receipt)
		return err
	}
	if err := writeNew(out, []byte(res.Receipt), force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "released license %s for %s: this server will not load it again\nwrote %s: send it to the vendor to have the license issued for the new server\n",
		termSafe(res.License.ID), termSafe(res.License.Licensee), out)
	return nil
}

// rehostFlags are the flags of vendor rehost.
type rehostFlags struct {
	receipt, key, license, licensee, out string
	force                                bool
	specs                                []string
	bind                                 bindFlags
}

func cmdVendorRehost(e *env, args []string) error {
	var f rehostFlags
	fs := newFlagSet(e, "vendor rehost", "vendor rehost --receipt FILE --key vendor.key --bind-server NEWKEY [--license OLD.lic] [--licensee NAME] [--feature ...] [--bind-volume ID] [--bind-host FINGERPRINT [--bind-host-min N]] [--out FILE [--force]]")
	fs.StringVar(&f.receipt, "receipt", "", "the release receipt `FILE` the old server wrote (usher license release)")
	fs.StringVar(&f.key, "key", "", "vendor private key `FILE`")
	fs.StringVar(&f.license, "license", "", "the released license `FILE`: checks that the receipt is its server's, and gives the licensee and features by default")
	fs.StringVar(&f.licensee, "licensee", "", "who the license is for (default: the released license's)")
	fs.StringVar(&f.out, "out", "", "write the license to `FILE` (default stdout)")
	fs.BoolVar(&f.force, "force", false, "overwrite an existing --out file")
	fs.Func("feature", "`NAME=SEATS[,starts=DATE][,expires=DATE]` (repeatable; default: the released license's)", func(v string) error {
		f.specs = append(f.specs, v)
		return nil
	})
	fs.StringVar(&f.bind.server, "bind-server", "", "bind the new license to the new server's `SERVER_KEY`")
	fs.StringVar(&f.bind.volume, "bind-volume", "", "bind the new license to the data volume `VOLUME_ID` too")
	fs.StringVar(&f.bind.host, "bind-host", "", "bind the new license to the host `HOST_FINGERPRINT` too")
	fs.IntVar(&f.bind.hostMin, "bind-host-min", 0, "how many host traits must match, `N` (default all but one)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.receipt == "" || f.key == "" || f.bind.server == "" {
		return usageErrorf("--receipt, --key and --bind-server are required")
	}
	priv, err := readVendorKey(f.key)
	if err != nil {
		return err
	}
	lic, err := f.newLicense(e, priv)
	if err != nil {
		return err
	}
	return writeLicense(e, lic, priv, f.out, f.force)
}

// newLicense checks the receipt and builds the license for the new server.
func (f *rehostFlags) newLicense(e *env, priv ed25519.PrivateKey) (*usher.License, error) {
	text, err := os.ReadFile(f.receipt)
	if err != nil {
		return nil, err
	}
	r, err := usher.ParseReceipt(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", f.receipt, usher.ErrorMessage(err))
	}
	if !r.Bound {
		return nil, fmt.Errorf("%s: license %s was not bound to the server that released it, so any server may still load a copy: the receipt proves nothing; issue a new license with vendor issue if you choose to", f.receipt, r.LicenseID)
	}
	lic := &usher.License{ID: usher.NewLicenseID(), Licensee: f.licensee, IssuedAt: time.Now()}
	if f.license != "" {
		if err := f.fromReleased(lic, r, priv); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(e.stderr, "note: without --license, check in your records that license %s was bound to server %s\n", r.LicenseID, usher.FormatServerKey(r.ServerKey))
	}
	for _, spec := range f.specs {
		g, err := parseFeatureSpec(spec)
		if err != nil {
			return nil, usageErrorf("--feature %s: %v", spec, err)
		}
		lic.Grants = append(lic.Grants, g)
	}
	if lic.Licensee == "" || len(lic.Grants) == 0 {
		return nil, usageErrorf("give --licensee and --feature, or the released license with --license")
	}
	if err := f.bind.apply(lic); err != nil {
		return nil, err
	}
	if lic.BindServer.Equal(r.ServerKey) {
		return nil, usageErrorf("--bind-server names the server that released the license: give the new server's key")
	}
	return lic, nil
}

// fromReleased checks the released license against the receipt, and
// takes its licensee and features where the flags give none.
func (f *rehostFlags) fromReleased(lic *usher.License, r *usher.Receipt, priv ed25519.PrivateKey) error {
	text, err := os.ReadFile(f.license)
	if err != nil {
		return err
	}
	old, err := usher.NewKeyring(priv.Public().(ed25519.PublicKey)).Verify(text)
	if err != nil {
		return fmt.Errorf("%s: %s", f.license, usher.ErrorMessage(err))
	}
	if err := r.Check(old); err != nil {
		return fmt.Errorf("%s does not release %s: %s", f.receipt, f.license, usher.ErrorMessage(err))
	}
	if lic.Licensee == "" {
		lic.Licensee = old.Licensee
	}
	if len(f.specs) == 0 {
		lic.Grants = old.Grants
	}
	return nil
}

// readVendorKey reads the vendor's private key.
func readVendorKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := usher.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// writeLicense signs lic and writes it to out, or to stdout.
func writeLicense(e *env, lic *usher.License, priv ed25519.PrivateKey, out string, force bool) error {
	text, err := usher.Sign(lic, priv)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = e.stdout.Write(text)
		return err
	}
	if err := writeNew(out, text, force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: license %s for %s\n", out, lic.ID, lic.Licensee)
	return nil
}
