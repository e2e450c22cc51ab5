package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// TestKillNineKeepsConsumptions checks that a consumption acknowledged
// right before a kill -9 is counted after the restart, once, and the
// commands that show metered features, activations and renewals.
func TestKillNineKeepsConsumptions(t *testing.T) {
	dir, pub, lic := vendorFixture(t, "render=0,consumption=10,period=day", "cad=2,subscription=30d")
	data := filepath.Join(dir, "data")
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	mustCLI(t, env, "license", "add", lic, "--data", data)
	ctx := context.Background()
	c := apiclient.MustNew(p.url, "")
	req := wire.ConsumeRequest{Feature: "render", Amount: 7, Client: usher.Client{ID: "job-runner", User: "alice"}, ID: "job-1"}
	if r, err := c.Consume(ctx, req); err != nil || r.Used != 7 {
		t.Fatalf("consume: got %+v, %v", r, err)
	}
	c.Close()
	p.kill9(t)

	p = startServerProc(t, "--data", data, "--vendor-key", pub)
	env = func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	c = apiclient.MustNew(p.url, "")
	defer c.Close()
	if r, err := c.Consume(ctx, req); err != nil || r.Used != 7 { // the retry of job-1 counts once
		t.Fatalf("retry after the kill: got %+v, %v; want used 7", r, err)
	}
	req.ID, req.Amount = "job-2", 4
	if _, err := c.Consume(ctx, req); usher.ErrorCode(err) != usher.EConsumptionExhausted {
		t.Fatalf("consume past the limit after the kill: got %v, want %s", err, usher.EConsumptionExhausted)
	}
	if out := mustCLI(t, env, "status", "--data", data); !strings.Contains(out, "METERED") || !regexp.MustCompile(`render +day +7 +10 +0 +3 `).MatchString(out) {
		t.Errorf("status lacks the counter of render:\n%s", out)
	}
	if out := mustCLI(t, env, "report", "--consumption", "--csv", "--data", data); !strings.Contains(out, "render,job-runner,alice,,7,1,") {
		t.Errorf("report --consumption --csv:\n%s", out)
	}
	out := mustCLI(t, env, "license", "list", "--data", data)
	if !strings.Contains(out, "activated "+time.Now().UTC().Format("2006-01-02")) || !strings.Contains(out, "cad: subscription 30d of group cad") {
		t.Errorf("license list lacks the activation:\n%s", out)
	}
}

func TestVendorRenewAndLicenseRenew(t *testing.T) {
	dir, pub, _ := vendorFixture(t, "cad=1")
	key := filepath.Join(dir, "keys", "vendor.key")
	lic := filepath.Join(dir, "sim.lic")
	mustCLI(t, nil, "vendor", "issue", "--key", key, "--licensee", "ACME", "--feature", "sim=1,renew_every=30d", "--renewal-url", "https://renew.example.com/acme", "--out", lic)
	data := filepath.Join(dir, "data")
	p := startServerProc(t, "--data", data, "--vendor-key", pub)
	env := func(k string) string { return map[string]string{"USHER_SERVER": p.url}[k] }
	out := mustCLI(t, env, "license", "add", lic, "--data", data)
	id := strings.Fields(strings.TrimPrefix(out, "added license "))[0]
	until := time.Now().AddDate(0, 0, 90).UTC().Format(time.DateOnly)
	renewal := filepath.Join(dir, id+".renewal")
	if out := mustCLI(t, nil, "vendor", "renew", "--key", key, "--license", id, "--until", until, "--out", renewal); !strings.Contains(out, "publish it as "+id+".renewal") {
		t.Errorf("vendor renew: %q", out)
	}
	want := time.Now().AddDate(0, 0, 30).UTC().Format(time.DateOnly)
	if out := mustCLI(t, env, "license", "renew", renewal, "--data", data); !strings.Contains(out, "renewed license "+id+": technical expiry "+want) {
		t.Errorf("license renew: %q, want technical expiry on %s", out, want)
	}
	if out := mustCLI(t, env, "license", "list", "--data", data); !strings.Contains(out, "technical expiry "+want) || !strings.Contains(out, "https://renew.example.com/acme/"+id+".renewal") {
		t.Errorf("license list:\n%s", out)
	}
}
