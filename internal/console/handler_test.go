package console_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/console"
	"github.com/usher-lm/usher/internal/ushertest"
)

// MaxCompressed is the budget of the whole console, gzip-compressed file by
// file, as docs/console.md states it.
const maxCompressed = 300 << 10

func TestSecurityHeaders(t *testing.T) {
	s := ushertest.StartServer(t, ushertest.ServerOptions{})
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/style.css", "/ui/pages/sessions.js"} {
		res, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got status %d, want 200", path, res.StatusCode)
		}
		for key, want := range map[string]string{
			"Content-Security-Policy": console.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
		} {
			if got := res.Header.Get(key); got != want {
				t.Errorf("GET %s: %s: got %q, want %q", path, key, got, want)
			}
		}
	}
	csp := console.ContentSecurityPolicy
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "script-src 'self';"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q: want it to hold %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("policy %q: want no unsafe source", csp)
	}
}

func TestRedirectAndNotFound(t *testing.T) {
	h := console.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui: got %d to %q, want 301 to /ui/", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/nothing.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /ui/nothing.js: got %d, want 404", rec.Code)
	}
}

// The files hold no inline script or style and load nothing from
// elsewhere: the page works offline and under the policy.
func TestNoInlineCodeOrExternalLoads(t *testing.T) {
	err := fs.WalkDir(console.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(console.Files(), path)
		if err != nil {
			return err
		}
		text := string(data)
		for _, bad := range []string{"http://", "https://", "style=\"", "<script>", "eval(", "new Function", "innerHTML"} {
			if strings.Contains(text, bad) && !(bad == "http://" && strings.Contains(text, "http://www.w3.org/2000/svg")) {
				t.Errorf("%s: holds %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSizeBudget(t *testing.T) {
	raw, packed := 0, 0
	err := fs.WalkDir(console.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(console.Files(), path)
		if err != nil {
			return err
		}
		raw += len(data)
		packed += gzipped(t, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("console: %d bytes, %d bytes gzip-compressed", raw, packed)
	if packed > maxCompressed {
		t.Errorf("console compressed: got %d bytes, want at most %d", packed, maxCompressed)
	}
}

func gzipped(t *testing.T, data []byte) int {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Len()
}
