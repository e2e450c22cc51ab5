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

// TestNoTokenSaysHowToGiveOne: an admin command sent without any
// credential is refused with the ways to give one, --data first.
func TestNoTokenSaysHowToGiveOne(t *testing.T) {
	url, data, _, _, _ := startServer(t)
	ctx := context.Background()
	code, _, errs := runCtx(ctx, "leases", "--server", url)
	if code != 1 || !strings.Contains(errs, "(unauthorized)") || !strings.Contains(errs, "no token was sent: on the server's host give --data DIR") {
		t.Fatalf("leases without a token: exit %d, %q; want unauthorized naming --data", code, errs)
	}
	if code, _, errs := runCtx(ctx, "leases", "--server", url, "--data", data); code != 0 {
		t.Fatalf("leases with --data: exit %d, %q", code, errs)
	}
	code, _, errs = runCtx(ctx, "leases", "--server", url, "--token", "usher_wrong")
	if code != 1 || strings.Contains(errs, "no token was sent") || !strings.Contains(errs, "the token sent came from --token") {
		t.Fatalf("leases with a wrong token: exit %d, %q; want it to name --token only", code, errs)
	}
}
