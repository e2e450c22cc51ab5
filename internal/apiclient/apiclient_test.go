package apiclient_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/apiclient"
)

// TestRefusedTokenNamesItsSource checks that a 401 names where the token
// came from, so that a stale one is easy to find.
func TestRefusedTokenNamesItsSource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":"unauthorized","message":"the token is not valid","status":401}`)
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Config{Servers: []string{srv.URL}, Token: "old", TokenSource: "USHER_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	if usher.ErrorCode(err) != usher.EUnauthorized || !strings.Contains(err.Error(), "came from USHER_TOKEN") {
		t.Errorf("got %v, want unauthorized naming USHER_TOKEN", err)
	}
}

// TestCallsFailOver checks that a typed call goes on to the next server
// when the first cannot be reached.
func TestCallsFailOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/features" {
			t.Errorf("path %s, want /v1/features", r.URL.Path)
		}
		fmt.Fprint(w, `{"features":[{"name":"cad","seats":3}]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Config{Servers: []string{dead, srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.Features(context.Background())
	if err != nil || len(fs) != 1 || fs[0].Name != "cad" || c.Server() != srv.URL {
		t.Errorf("got %v, %v from %s; want feature cad from %s", fs, err, c.Server(), srv.URL)
	}
}
