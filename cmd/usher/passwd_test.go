package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
)

func TestPasswdChangesOwnPassword(t *testing.T) {
	d, cfg := startDaemon(t, false)
	password, err := os.ReadFile(filepath.Join(cfg.Data, daemon.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := newCLI(t, d.URL())
	admin.stdin = string(password)
	admin.must("login")
	admin.stdin = "first password\n"
	admin.must("user", "add", "carol", "--role", "client")

	carol := newCLI(t, d.URL())
	carol.stdin = "first password\n"
	carol.must("login", "--user", "carol")
	carol.stdin = "not her password\nsecond password\n"
	if code, _, errs := carol.run("passwd"); code != 1 || !strings.Contains(errs, "old password of carol is wrong") {
		t.Fatalf("passwd with a wrong old password: exit %d, %q", code, errs)
	}
	carol.stdin = "first password\nshort\n"
	if code, _, errs := carol.run("passwd"); code != 1 || !strings.Contains(errs, "too short") {
		t.Fatalf("passwd with a short new password: exit %d, %q", code, errs)
	}
	carol.stdin = "first password\nsecond password\n"
	if out := carol.must("passwd"); !strings.Contains(out, "logged in again") {
		t.Fatalf("passwd: %q, want the saved login renewed", out)
	}
	carol.must("status") // the renewed login works
	api := apiclient.MustNew(d.URL(), "")
	if _, err := api.Login(context.Background(), "carol", "first password"); err == nil {
		t.Error("login with the old password: got nil error, want a refusal")
	}
	if _, err := api.Login(context.Background(), "carol", "second password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	out := admin.must("events", "--type", "password_changed,password_change_failed")
	if strings.Count(out, "password_change_failed") != 2 || strings.Count(out, "password_changed") != 1 || !strings.Contains(out, "wrong_password") {
		t.Errorf("events: %q, want two failures (one wrong_password) and one change", out)
	}
	// An admin token is no user's login.
	admin.vars["USHER_TOKEN"] = strings.TrimSpace(readFile(t, filepath.Join(cfg.Data, daemon.TokenFile)))
	admin.stdin = "x\nyyyyyyyyyy\n"
	if code, _, errs := admin.run("passwd"); code != 1 || !strings.Contains(errs, "log in with usher login") {
		t.Errorf("passwd with the admin token: exit %d, %q", code, errs)
	}
}
