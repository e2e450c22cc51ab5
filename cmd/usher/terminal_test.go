package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/ushertest"
	"github.com/usher-lm/usher/internal/wire"
)

func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"ws12":               "ws12",
		"zoë 😀":              "zoë 😀",
		"\x1b[2J":            `\x1b[2J`,
		"a\rb\nc\td":         `a\rb\nc\td`,
		"\x7f\u009b\u0085":   `\x7f\u009b\u0085`,
		"abc\u202edef":       `abc\u202edef`,
		"bad \xff\xfe bytes": `bad \xff\xfe bytes`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTablesEscapeClientStrings checks that what an anonymous checkout
// sends cannot reach the admin's terminal as control sequences, while
// --json keeps it exact.
func TestTablesEscapeClientStrings(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{Dev: true})
	d, cfg := s.Daemon, s.Config
	evil := usher.Client{ID: "id\x1b[2J\r", User: "\x1b]0;owned\x07alice\r", Host: "ws\rFAKE\tROW\nx\u009b31m", PID: 7}
	c := apiclient.MustNew(d.URL(), "")
	defer c.Close()
	if _, _, err := c.Checkout(context.Background(), wire.CheckoutRequest{Feature: daemon.DevFeature, Client: evil}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string { return map[string]string{"USHER_SERVER": d.URL()}[k] }
	data := "--data=" + cfg.Data
	for _, args := range [][]string{{"leases", data}, {"events", data}} {
		out := mustCLI(t, env, args...)
		if strings.ContainsAny(out, "\x1b\r\x07\u009b") {
			t.Errorf("usher %s wrote control characters:\n%q", args[0], out)
		}
		if !strings.Contains(out, `\x1b]0;owned\aalice\r`) {
			t.Errorf("usher %s does not show the escaped user name:\n%s", args[0], out)
		}
	}
	if out := mustCLI(t, env, "leases", data); strings.Count(out, "\n") != 2 {
		t.Errorf("leases: want a header and one row, got:\n%s", out)
	}
	var got struct{ Leases []usher.Lease }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "leases", "--json", data)), &got); err != nil || len(got.Leases) != 1 || got.Leases[0].Client != evil {
		t.Fatalf("leases --json: got %+v %v, want the client exactly %+v", got, err, evil)
	}
}
