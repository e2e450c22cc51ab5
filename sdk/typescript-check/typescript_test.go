// Package typescript_test checks that the TypeScript types openapi-typescript
// generates from the OpenAPI document compile with tsc, together with a
// typed client that uses them (check.ts).
package typescript_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tool returns a program of node_modules/.bin. Without it (npm ci was not
// run here), the test is skipped, or fails if USHER_REQUIRE_NPM=1.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		msg := "node_modules/.bin/" + name + " is missing: run npm ci in sdk/typescript-check"
		if os.Getenv("USHER_REQUIRE_NPM") == "1" {
			t.Fatal(msg + " (USHER_REQUIRE_NPM=1 makes this a failure)")
		}
		t.Skip(msg)
	}
	return p
}

func TestTypesCompile(t *testing.T) {
	generate, tsc := tool(t, "openapi-typescript"), tool(t, "tsc")
	dir := t.TempDir()
	for _, name := range []string{"check.ts", "tsconfig.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := filepath.Abs("../../internal/httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, generate, doc, "-o", filepath.Join(dir, "generated", "api.d.ts"))
	run(t, dir, tsc, "--noEmit", "-p", dir)
}

func run(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(bin), err, out)
	}
}
