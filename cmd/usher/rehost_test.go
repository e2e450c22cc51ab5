package main

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
)

// fingerprintOf returns the server key and volume id of a data directory.
func fingerprintOf(t *testing.T, data string) (key, volume string) {
	t.Helper()
	var fp struct {
		ServerKey string `json:"server_key"`
		VolumeID  string `json:"volume_id"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "server", "fingerprint", "--data", data, "--json")), &fp); err != nil {
		t.Fatal(err)
	}
	if fp.ServerKey == "" || fp.VolumeID == "" {
		t.Fatalf("got fingerprint %+v, want a server key and a volume id", fp)
	}
	return fp.ServerKey, fp.VolumeID
}

// TestRehostMovesALicense follows a license from one server to another:
// release on the old one, which refuses it back even after a restart;
// rehost at the vendor, which takes only the old server's receipt; load on
// the new one.
func TestRehostMovesALicense(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	vkey := filepath.Join(dir, "keys", "vendor.key")
	oldData, newData := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	oldKey, _ := fingerprintOf(t, oldData)
	newKey, _ := fingerprintOf(t, newData)
	lic := filepath.Join(dir, "old.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", vkey, "--licensee", "ACME Corp", "--feature", "cad=3", "--bind-server", oldKey, "--out", lic)
	id := licenseID(t, lic)

	old := startServerProc(t, "--data", oldData, "--vendor-key", pub)
	oldEnv := func(k string) string { return map[string]string{"USHER_SERVER": old.url}[k] }
	mustCLI(t, oldEnv, "license", "add", lic, "--data", oldData)
	receipt := filepath.Join(dir, "receipt.txt")
	if out := mustCLI(t, oldEnv, "license", "release", id, "--data", oldData, "--out", receipt); !strings.Contains(out, "released license "+id) {
		t.Fatalf("release said %q, want it to name %s", out, id)
	}
	if code, _, errOut := runCLI(t, oldEnv, "license", "add", lic, "--data", oldData); code == 0 || !strings.Contains(errOut, "released") {
		t.Fatalf("add back after release: got exit %d, %q, want license_released", code, errOut)
	}
	old.kill9(t)
	old = startServerProc(t, "--data", oldData, "--vendor-key", pub)
	oldEnv = func(k string) string { return map[string]string{"USHER_SERVER": old.url}[k] }
	if code, _, errOut := runCLI(t, oldEnv, "license", "add", lic, "--data", oldData); code == 0 || !strings.Contains(errOut, "released") {
		t.Fatalf("add back after a restart: got exit %d, %q, want license_released", code, errOut)
	}
	if out := mustCLI(t, oldEnv, "license", "list", "--data", oldData); !strings.Contains(out, "released license "+id) {
		t.Fatalf("license list: got %q, want the released license", out)
	}

	moved := filepath.Join(dir, "new.lic")
	mustCLI(t, nil, "vendor", "rehost", "--receipt", receipt, "--license", lic, "--key", vkey, "--bind-server", newKey, "--out", moved)
	newLic := verifyFile(t, filepath.Join(dir, "keys", "vendor.pub"), moved)
	if newLic.ID == id || !newLic.BindServer.Equal(mustServerKey(t, newKey)) || newLic.Licensee != "ACME Corp" || len(newLic.Grants) != 1 || newLic.Grants[0].Seats != 3 {
		t.Fatalf("got rehosted license %+v, want a new id bound to the new server with the old licensee and features", newLic)
	}
	srv := startServerProc(t, "--data", newData, "--vendor-key", pub)
	mustCLI(t, func(k string) string { return map[string]string{"USHER_SERVER": srv.url}[k] }, "license", "add", moved, "--data", newData)
}

// TestRehostRefusesBadReceipts checks that the vendor refuses a forged
// receipt, one another server signed, and one of an unbound license.
func TestRehostRefusesBadReceipts(t *testing.T) {
	dir, _, unbound := vendorFixture(t, "cad=1")
	vkey := filepath.Join(dir, "keys", "vendor.key")
	oldPub, oldPriv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	newPub, _, _ := ed25519.GenerateKey(nil)
	newKey := usher.FormatServerKey(newPub)
	lic := filepath.Join(dir, "old.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", vkey, "--licensee", "ACME Corp", "--feature", "cad=1", "--bind-server", usher.FormatServerKey(oldPub), "--out", lic)
	id := licenseID(t, lic)
	write := func(name string, r *usher.Receipt, key ed25519.PrivateKey) string {
		text, err := usher.SignReceipt(r, key)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.txt", &usher.Receipt{LicenseID: id, ServerKey: oldPub, Bound: true, ReleasedAt: time.Now()}, oldPriv)
	forged := filepath.Join(dir, "forged.txt")
	if err := os.WriteFile(forged, []byte(strings.Replace(readFile(t, good), "bound: yes", "bound: no", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := write("foreign.txt", &usher.Receipt{LicenseID: id, ServerKey: otherPriv.Public().(ed25519.PublicKey), Bound: true, ReleasedAt: time.Now()}, otherPriv)
	unboundID := licenseID(t, unbound)
	notBound := write("unbound.txt", &usher.Receipt{LicenseID: unboundID, ServerKey: oldPub, ReleasedAt: time.Now()}, oldPriv)
	for _, tc := range []struct{ name, receipt, license, want string }{
		{"forged", forged, lic, "signature does not verify"},
		{"foreign", foreign, lic, "only the server a license is bound to"},
		{"unbound", notBound, unbound, "was not bound"},
		{"same server", good, lic, "names the server that released"},
	} {
		bind := newKey
		if tc.name == "same server" {
			bind = usher.FormatServerKey(oldPub)
		}
		code, _, errOut := runCLI(t, nil, "vendor", "rehost", "--receipt", tc.receipt, "--license", tc.license, "--key", vkey, "--bind-server", bind)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s receipt: got exit %d, %q, want a refusal saying %q", tc.name, code, errOut, tc.want)
		}
	}
	if out := mustCLI(t, nil, "vendor", "rehost", "--receipt", good, "--license", lic, "--key", vkey, "--bind-server", newKey); !strings.Contains(out, "bind-server: "+newKey) {
		t.Fatalf("good receipt: got\n%s\nwant a license bound to the new server", out)
	}
}

// TestBindVolumeCLI binds a license to a data volume: the server on that
// volume takes it, another refuses it.
func TestBindVolumeCLI(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	vkey := filepath.Join(dir, "keys", "vendor.key")
	data := filepath.Join(dir, "data")
	_, volume := fingerprintOf(t, data)
	_, otherVolume := fingerprintOf(t, filepath.Join(dir, "other"))
	here, elsewhere := filepath.Join(dir, "here.lic"), filepath.Join(dir, "elsewhere.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", vkey, "--licensee", "ACME Corp", "--feature", "cad=1", "--bind-volume", volume, "--out", here)
	mustCLI(t, nil, "vendor", "issue", "--key", vkey, "--licensee", "ACME Corp", "--feature", "cad=1", "--bind-volume", otherVolume, "--out", elsewhere)
	if !strings.Contains(readFile(t, here), "bind-volume: "+volume+"\n") {
		t.Fatalf("got license\n%s\nwant a bind-volume line", readFile(t, here))
	}
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	mustCLI(t, env, "license", "add", here, "--data", data)
	if code, _, errOut := runCLI(t, env, "license", "add", elsewhere, "--data", data); code == 0 || !strings.Contains(errOut, "data volume "+otherVolume) {
		t.Fatalf("add a license bound to another volume: got exit %d, %q, want license_bound_elsewhere", code, errOut)
	}
}

func licenseID(t *testing.T, path string) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			return id
		}
	}
	t.Fatalf("%s has no id line", path)
	return ""
}

func verifyFile(t *testing.T, pubPath, licPath string) *usher.License {
	t.Helper()
	pub, err := usher.ParsePublicKey([]byte(readFile(t, pubPath)))
	if err != nil {
		t.Fatal(err)
	}
	lic, err := usher.NewKeyring(pub).Verify([]byte(readFile(t, licPath)))
	if err != nil {
		t.Fatalf("verify %s: %v", licPath, err)
	}
	return lic
}

func mustServerKey(t *testing.T, s string) ed25519.PublicKey {
	t.Helper()
	k, err := usher.ParseServerKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
