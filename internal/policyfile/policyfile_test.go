package policyfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/policyfile"
)

const example = `
[groups]
cad-team = ["user:alice", "user:bob", "host:ws1*"]

[feature.cad]
reserve = { "group:cad-team" = 2 }
max = { "user:*" = 1, "host:kiosk*" = 0 }
exclude = ["host:guest-*"]
overdraft = 2
linger = "15m"
`

func TestParseExample(t *testing.T) {
	p, err := policyfile.Parse([]byte(example))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{
		`feature.cad.exclude["host:guest-*"]`,
		`feature.cad.linger=15m0s`,
		`feature.cad.max["host:kiosk*"]=0`,
		`feature.cad.max["user:*"]=1`,
		`feature.cad.overdraft=2`,
		`feature.cad.reserve["group:cad-team"]=2`,
		`groups.cad-team=["user:alice" "user:bob" "host:ws1*"]`,
	}
	if got := p.Rules(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseEmptyHasNoRules(t *testing.T) {
	p, err := policyfile.Parse(nil)
	if err != nil || len(p.Rules()) != 0 {
		t.Fatalf("got %v rules, err %v; want none", p.Rules(), err)
	}
}

func TestParseRefusesWithLine(t *testing.T) {
	cases := []struct{ text, want string }{
		{"[feature.cad]\nmaxx = { \"user:*\" = 1 }\n", `2:1: unknown key "feature.cad.maxx"`},
		{"[feature.cad]\noverdraft = 1\n[colors]\nred = 1\n", `3:2: unknown key "colors"`},
		{"[feature.cad]\nmax = { \"user:*\" = \"one\" }\n", `2:`},
		{"[feature.cad]\n\nmax = { \"group:nobody\" = 1 }\n", `3:9: feature.cad.max: "group:nobody": no such group`},
		{"[groups]\nops = [\"alice\"]\n", `2:8: groups.ops: "alice": write kind:pattern`},
		{"[feature.cad]\nmax = [\n", `2:`},
		{"[feature.cad]\n\nlinger = \"soon\"\n", `3:10: feature.cad.linger="soon": give a duration`},
		{"[feature.cad]\nlinger = \"-1m\"\n", `2:10: feature.cad.linger="-1m"`},
		{"[feature.cad]\nlinger = 15\n", `2:10: feature.cad.linger: found a TOML integer, want a string in quotes, such as "15m"`},
		{"[feature.cad]\nmax = 3\n", `2:7: feature.cad.max: found a TOML integer, want a table of pattern = seats`},
	}
	for _, tc := range cases {
		_, err := policyfile.Parse([]byte(tc.text))
		if usher.ErrorCode(err) != usher.EInvalid || !strings.HasPrefix(usher.ErrorMessage(err), tc.want) {
			t.Errorf("Parse(%q): got %v, want invalid_request starting %q", tc.text, err, tc.want)
		}
	}
}

func TestReadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("[feature.cad]\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := policyfile.Read(path)
	if want := "policy " + path + ":2:1: unknown key"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want it to start %q", err, want)
	}
}
