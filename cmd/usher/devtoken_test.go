package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

// TestDevTokenStaysHome checks that dev mode's admin token, found in the
// dev data directory, is not sent to a server that is not the dev server.
func TestDevTokenStaysHome(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	if err := os.MkdirAll(daemon.DevDataDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	const secret = "dev-secret-token"
	if err := os.WriteFile(filepath.Join(daemon.DevDataDir(), daemon.TokenFile), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, `{"code":"unauthorized","message":"log in"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, _, errOut := runCLI(t, nil, "status", "--server", srv.URL)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatalf("the server got no request; stderr %q", errOut)
	}
	for _, h := range seen {
		if strings.Contains(h, secret) {
			t.Errorf("Authorization = %q: the dev token went to a server that is not the dev server", h)
		}
	}
	if strings.Contains(errOut, "dev mode") {
		t.Errorf("stderr = %q, want no blame on dev mode's token", errOut)
	}
}

func TestDevServers(t *testing.T) {
	for _, tc := range []struct {
		servers []string
		want    bool
	}{
		{[]string{"http://127.0.0.1:7420"}, true},
		{[]string{"127.0.0.1:7420"}, true},
		{[]string{"http://localhost:7420"}, true},
		{[]string{"http://[::1]:7420"}, true},
		{[]string{"https://license1:7420"}, false},
		{[]string{"http://127.0.0.1:7421"}, false},
		{[]string{"http://127.0.0.1:7420", "http://10.0.0.1:7420"}, false},
	} {
		if got := devServers(tc.servers); got != tc.want {
			t.Errorf("devServers(%q) = %v, want %v", tc.servers, got, tc.want)
		}
	}
}
