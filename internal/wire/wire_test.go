package wire_test

import (
	"go/build"
	"net/http"
	"slices"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// TestFootprint checks that the wire package, the LAN discovery wire
// format and the SDK import only the standard library, the root package
// and (the SDK) those two, so that an application embedding the SDK pulls
// in nothing else.
func TestFootprint(t *testing.T) {
	const module = "github.com/usher-lm/usher"
	allowed := map[string][]string{
		module + "/internal/wire":          {module},
		module + "/internal/discovery/lan": {module},
		module + "/client":                 {module, module + "/internal/wire", module + "/internal/discovery/lan"},
	}
	for pkg, ok := range allowed {
		p, err := build.Import(pkg, ".", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") {
				continue // the standard library
			}
			if !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s; it may import only the standard library and %v", pkg, imp, ok)
			}
		}
	}
}

// TestEveryCodeHasItsStatus checks the code-to-status table on a code of
// each kind, and that an unknown code is a server error.
func TestEveryCodeHasItsStatus(t *testing.T) {
	for code, want := range map[string]int{
		usher.ENoSeats: http.StatusConflict, usher.EInvalid: http.StatusBadRequest,
		usher.EUnauthorized: http.StatusUnauthorized, usher.EForbidden: http.StatusForbidden,
		usher.ERateLimited: http.StatusTooManyRequests, usher.EUnavailable: http.StatusServiceUnavailable,
		usher.EUserNotFound: http.StatusNotFound, usher.ETokenExists: http.StatusConflict,
		wire.ENotFound: http.StatusNotFound, wire.EMethodNotAllowed: http.StatusMethodNotAllowed,
		"no_such_code": http.StatusInternalServerError,
	} {
		if got := wire.StatusOf(code); got != want {
			t.Errorf("StatusOf(%q): got %d, want %d", code, got, want)
		}
	}
}

// TestDecodeError checks that an Usher error body keeps its code and
// message, and that any other answer reads as unavailable.
func TestDecodeError(t *testing.T) {
	body := wire.ErrorBodyOf(usher.Errorf(usher.ENoSeats, "all 3 seats of cad are in use"))
	if body.Status != http.StatusConflict {
		t.Errorf("status of no_seats_available: got %d, want 409", body.Status)
	}
	got := wire.DecodeError("http://a", "409 Conflict", []byte(`{"code":"no_seats_available","message":"all 3 seats of cad are in use","status":409}`))
	if got.Code != usher.ENoSeats || got.Message != "all 3 seats of cad are in use" {
		t.Errorf("got %+v, want the server's code and message", got)
	}
	got = wire.DecodeError("http://a", "502 Bad Gateway", []byte("<html>bad gateway</html>"))
	if got.Code != usher.EUnavailable || !strings.Contains(got.Message, "http://a answered 502 Bad Gateway") {
		t.Errorf("a proxy's page: got %+v, want unavailable naming the server", got)
	}
	if internal := wire.ErrorBodyOf(errSecret{}); internal.Code != usher.EInternal || strings.Contains(internal.Message, "secret") {
		t.Errorf("an error without a code: got %+v, want internal without its text", internal)
	}
}

type errSecret struct{}

func (errSecret) Error() string { return "secret detail" }
