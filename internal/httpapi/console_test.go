package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/httpapi"
)

// A node serves the console itself, and forwards the API to the node that
// decides; the console's files are not API routes.
func TestConsoleServedByEveryNode(t *testing.T) {
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	forwarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	api := httpapi.NewServer(httpapi.Config{Ledger: &usher.Ledger{}, AdminToken: "t", Console: console,
		Forward: func(http.Handler) http.Handler { return forwarded }})
	for path, want := range map[string]int{"/ui/": http.StatusTeapot, "/ui": http.StatusTeapot, "/ui/app.js": http.StatusTeapot,
		"/v1/leases": http.StatusBadGateway, "/uix": http.StatusBadGateway} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: got %d, want %d", path, rec.Code, want)
		}
	}
	for _, r := range api.Routes() {
		if r == "GET /ui/" || r == "GET /ui" {
			t.Errorf("routes: got %q, want the console left out", r)
		}
	}
}
