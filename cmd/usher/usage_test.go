package main

import (
	"context"
	"strings"
	"testing"
)

// TestUsageNamesEveryDocumentedCommand: the commands the docs walk a
// newcomer through are listed by usher --help, so a reader can find them.
func TestUsageNamesEveryDocumentedCommand(t *testing.T) {
	code, out, errs := runCtx(context.Background(), "--help")
	if code != 0 {
		t.Fatalf("usher --help: exit %d, %q", code, errs)
	}
	for _, want := range []string{
		"usher vendor renew", "usher license renew", "usher report --consumption",
		"usher vendor unbind", "usher license unbind", "usher license release", "usher vendor rehost",
		"usher policy check", "usher assign",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usher --help does not name %q", want)
		}
	}
}
