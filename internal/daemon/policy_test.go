package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

// policyServer starts a server with 5 seats of cad and the policy file
// given, which it reads again on reload.
func policyServer(t *testing.T, policy string) (*ushertest.Server, string, *ushertest.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.toml")
	writePolicy(t, path, policy)
	logs := &ushertest.Buffer{}
	var srv *ushertest.Server
	srv = ushertest.StartServer(t, ushertest.ServerOptions{
		Seats:     map[string]int{"cad": 5},
		Configure: func(c *daemon.Config) { c.PolicyFile = path },
		Daemon: daemon.Options{
			Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Reload: func() (daemon.Config, error) { return srv.Config, nil },
		},
	})
	return srv, path, logs
}

func writePolicy(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func takeCad(c *apiclient.Client, id, user string) error {
	_, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: id, User: user, Host: "ws1"}})
	return err
}

func wantPolicyDenied(t *testing.T, err error, rule string) {
	t.Helper()
	if usher.ErrorCode(err) != usher.EPolicyDenied || !strings.HasPrefix(usher.ErrorMessage(err), rule) {
		t.Fatalf("got %v (code %q), want policy_denied by %s", err, usher.ErrorCode(err), rule)
	}
}

const maxOne = "[feature.cad]\nmax = { \"user:*\" = 1 }\n"

func TestPolicyFileReloadAndAPI(t *testing.T) {
	ctx := context.Background()
	srv, path, logs := policyServer(t, maxOne)
	admin := srv.Admin()
	if err := takeCad(admin, "a1", "alice"); err != nil {
		t.Fatal(err)
	}
	wantPolicyDenied(t, takeCad(admin, "a2", "alice"), `feature.cad.max["user:*"]=1: user alice holds 1`)

	// A file that does not parse is refused with its line; the old policy stays.
	writePolicy(t, path, "[feature.cad]\nmax = { \"user:*\" = 1 }\nmaxx = 3\n")
	_, err := admin.Reload(ctx)
	if usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), "policy.toml:3:1: unknown key") {
		t.Fatalf("reload of a bad policy: got %v, want invalid_request naming line 3", err)
	}
	wantPolicyDenied(t, takeCad(admin, "a2", "alice"), `feature.cad.max["user:*"]=1`)

	// A good file is applied on reload, with the change in the log.
	writePolicy(t, path, "[feature.cad]\nmax = { \"user:*\" = 2 }\n")
	res, err := admin.Reload(ctx)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if want := (wire.Change{Key: "policy", Old: `feature.cad.max["user:*"]=1`, New: `feature.cad.max["user:*"]=2`}); len(res.Applied) != 1 || res.Applied[0] != want {
		t.Errorf("reload answered %+v, want the changed rule %+v", res.Applied, want)
	}
	if err := takeCad(admin, "a2", "alice"); err != nil {
		t.Fatalf("alice's second seat after the reload: %v", err)
	}
	if want := `feature.cad.max[\"user:*\"]=1 -> feature.cad.max[\"user:*\"]=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("the log lacks the changed rule %s:\n%s", want, logs.String())
	}

	// The API's policy wins until the file changes.
	_, err = admin.SetPolicy(ctx, []byte("[feature.cad]\nexclude = [\"user:alice\"]\n"))
	if err != nil {
		t.Fatalf("PUT /v1/policy: %v", err)
	}
	if _, err := admin.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	wantPolicyDenied(t, takeCad(admin, "a3", "alice"), `feature.cad.exclude["user:alice"]`)
	if p, err := admin.Policy(ctx); err != nil || p.Source != wire.PolicySourceAPI || len(p.Rules) != 1 {
		t.Fatalf("GET /v1/policy: %+v, %v; want the API's one rule", p, err)
	}

	// A bad policy over the API is refused with its line.
	_, err = admin.SetPolicy(ctx, []byte("[feature.cad]\nmax = { \"group:none\" = 1 }\n"))
	if usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), "policy:2:") {
		t.Fatalf("PUT of a bad policy: got %v, want invalid_request with line 2", err)
	}

	// A restart keeps the API's policy: the file has not changed.
	srv.Restart()
	admin = srv.Admin()
	wantPolicyDenied(t, takeCad(admin, "a3", "alice"), `feature.cad.exclude["user:alice"]`)

	// Once the file changes, it wins on reload.
	writePolicy(t, path, maxOne+"overdraft = 1\n")
	if _, err := admin.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := admin.Policy(ctx); p.Source != wire.PolicySourceFile {
		t.Fatalf("source after the file changed: %q, want file", p.Source)
	}
}

func TestPolicyFileThatDoesNotParseStopsStart(t *testing.T) {
	cfg := devConfig(t, t.TempDir())
	cfg.PolicyFile = filepath.Join(t.TempDir(), "policy.toml")
	writePolicy(t, cfg.PolicyFile, "[feature.demo]\nreserve = 2\n")
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{})
	if err == nil {
		d.Close()
		t.Fatal("started with a policy that does not parse")
	}
	if !strings.Contains(err.Error(), "policy.toml:2:") {
		t.Fatalf("got %v, want the file and line", err)
	}
}

func TestPolicyCheckEndpoint(t *testing.T) {
	ctx := context.Background()
	srv := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 5}})
	admin := srv.Admin()
	for _, id := range []string{"a1", "a2"} {
		if err := takeCad(admin, id, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Daemon.Events().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := admin.CheckPolicy(ctx, wire.PolicyCheckRequest{Policy: maxOne, Since: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	// Once in the recorded checkouts, once in the leases held now.
	if res.Checked != 4 || len(res.Denials) != 2 {
		t.Fatalf("got %+v, want 4 checked and 2 denials", res)
	}
	for _, d := range res.Denials {
		if d.Rule != `feature.cad.max["user:*"]=1: user alice holds 1` {
			t.Errorf("denial %+v names the wrong rule", d)
		}
	}
	if res.Denials[0].Source != "event" || res.Denials[1].Source != "lease" {
		t.Errorf("sources %s, %s; want event, lease", res.Denials[0].Source, res.Denials[1].Source)
	}
	_, err = admin.CheckPolicy(ctx, wire.PolicyCheckRequest{Policy: "[feature.cad]\nbogus = 1\n"})
	if usher.ErrorCode(err) != usher.EInvalid || !strings.Contains(err.Error(), "2:1: unknown key") {
		t.Fatalf("check of a bad policy: got %v", err)
	}
	if p, _ := admin.Policy(ctx); p.Source != wire.PolicySourceNone {
		t.Fatalf("a check put a policy in force: %+v", p)
	}
}

// TestClusterPolicyReplicatesAndSurvivesFailover: a policy set through
// one node reaches every node, and the node that decides after the
// deciding one is killed enforces it.
func TestClusterPolicyReplicatesAndSurvivesFailover(t *testing.T) {
	ctx := context.Background()
	c := mustStartCluster(t, 3)
	dec := c.MustDecider()
	c.AddLicense(dec, "cad", 5)
	fol := c.follower(dec)
	if _, err := c.Client(fol).SetPolicy(ctx, []byte(maxOne)); err != nil {
		t.Fatalf("PUT /v1/policy through a follower: %v", err)
	}
	for i := range c.Configs {
		ushertest.WaitFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if p := c.Daemon(i).Policy(); p.Source != wire.PolicySourceAPI {
				return usher.Errorf(usher.EInternal, "node %d has policy source %q", i, p.Source)
			}
			return nil
		})
	}
	if err := takeCad(c.Client(fol), "a1", "alice"); err != nil {
		t.Fatal(err)
	}
	c.Kill(dec)
	var err error
	rerr := ushertest.RetryUnavailable(20*time.Second, func() error {
		err = takeCad(c.Client(fol), "a2", "alice")
		if usher.ErrorCode(err) == usher.EUnavailable || usher.ErrorCode(err) == usher.EInternal {
			return err
		}
		return nil
	})
	if rerr != nil {
		t.Fatalf("no node decided after the kill: %v", rerr)
	}
	wantPolicyDenied(t, err, `feature.cad.max["user:*"]=1: user alice holds 1`)
}

func TestPolicyLingerKeepsReleasedSeats(t *testing.T) {
	ctx := context.Background()
	srv, path, _ := policyServer(t, "[feature.cad]\nlinger = \"10m\"\n")
	app := mustClient(t, apiclient.Config{Servers: []string{srv.URL()}})
	lr, _, err := app.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "a1", User: "alice", Host: "ws1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Release(ctx, lr.ID); err != nil {
		t.Fatal(err)
	}
	lingering := func() int {
		t.Helper()
		fs, err := srv.Admin().Features(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Name == "cad" {
				return f.Lingering
			}
		}
		t.Fatal("no feature cad")
		return 0
	}
	if n := lingering(); n != 1 {
		t.Fatalf("after a release under linger = \"10m\": %d lingering, want 1", n)
	}

	// Without the key, the next release frees its seat at once.
	writePolicy(t, path, "")
	if _, err := srv.Admin().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	lr, _, err = app.Checkout(ctx, wire.CheckoutRequest{Feature: "cad", Client: usher.Client{ID: "b1", User: "bob", Host: "ws2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Release(ctx, lr.ID); err != nil {
		t.Fatal(err)
	}
	if n := lingering(); n != 1 {
		t.Fatalf("after the policy lost its linger: %d lingering, want only the first seat", n)
	}
}
