package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/wire"
)

func TestLogin(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	ctx := context.Background()
	anon := srv.client(t, "")
	_, err := anon.Login(ctx, adminUser, "wrong password")
	if usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("wrong password: got %v, want unauthorized", err)
	}
	failed := srv.Events.ofType(httpapi.EventLoginFailed)
	if len(failed) != 1 || failed[0].Client.User != adminUser || failed[0].Client.Host != "127.0.0.1" {
		t.Fatalf("login_failed events: %+v", failed)
	}
	login, err := anon.Login(ctx, adminUser, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.Clock.Now().Add(auth.DefaultTokenTTL); !login.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v, want %v", login.ExpiresAt, want)
	}
	c := srv.client(t, login.Token)
	if _, err := c.Leases(ctx); err != nil {
		t.Fatalf("leases with login token: %v", err)
	}
	srv.Clock.Advance(auth.DefaultTokenTTL + time.Second)
	if _, err := c.Leases(ctx); usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("expired login: got %v, want unauthorized", err)
	}
}

func TestUsersAndTokensAPI(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	ctx := context.Background()
	admin := srv.client(t, adminToken)
	u, err := admin.AddUser(ctx, wire.UserRequest{Username: "mona", Password: "monitor password", Role: "monitor"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "mona" || u.Role != "monitor" {
		t.Errorf("got %+v", u)
	}
	if _, err := admin.AddUser(ctx, wire.UserRequest{Username: "mona", Password: "monitor password", Role: "monitor"}); usher.ErrorCode(err) != auth.EUserExists {
		t.Errorf("duplicate user: got %v", err)
	}
	users, err := admin.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("users: %+v, %v", users, err)
	}
	if err := admin.SetPassword(ctx, "mona", "new monitor password"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.client(t, "").Login(ctx, "mona", "new monitor password"); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
	if err := admin.RemoveUser(ctx, "mona"); err != nil {
		t.Fatal(err)
	}

	tok, err := admin.CreateToken(ctx, "grafana", "monitor")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "usher_") || tok.ID == "" {
		t.Fatalf("created token: %+v", tok)
	}
	list, err := admin.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Token != "" || list[0].Name != "grafana" {
		t.Fatalf("token list must not carry secrets: %+v, %v", list, err)
	}
	if _, err := srv.client(t, tok.Token).Queue(ctx); err != nil {
		t.Fatalf("monitor token reads the queue: %v", err)
	}
	if _, err := admin.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.client(t, tok.Token).Queue(ctx); usher.ErrorCode(err) != usher.EUnauthorized {
		t.Fatalf("revoked token: got %v, want unauthorized", err)
	}
}

func TestMaxRequestSize(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{maxRequestSize: 1024})
	hc := clientFrom(t, "127.0.0.1")
	for _, tc := range []struct {
		size int
		want int
	}{{900, http.StatusCreated}, {2000, http.StatusBadRequest}} {
		body := `{"feature":"` + feature + `","client":{"id":"c","user":"` + strings.Repeat("u", 200) + `"}` + strings.Repeat(" ", tc.size-250) + `}` // padded with space: unknown keys are refused
		resp, err := hc.Post(srv.URL+"/v1/leases", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte checkout with a 1024-byte limit: got %d, want %d", len(body), resp.StatusCode, tc.want)
		}
	}
}

// TestLoginBackoffAnswers429 fails logins from one address until the
// server backs it off: it answers 429 with Retry-After without checking
// the password, and other addresses still log in.
func TestLoginBackoffAnswers429(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	flood, other := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	for i := range auth.LoginFreeFailuresPerAddress + 1 {
		if status, code, _ := login(t, flood, srv.URL, "nobody", "wrong password"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d %s, want 401", i, status, code)
		}
	}
	status, code, retry := login(t, flood, srv.URL, adminUser, adminPassword)
	if status != http.StatusTooManyRequests || code != httpapi.ERateLimited || retry != 1 {
		t.Fatalf("backed off: got %d %s, Retry-After %d; want 429 rate_limited, Retry-After 1", status, code, retry)
	}
	if status, code, _ := login(t, other, srv.URL, adminUser, adminPassword); status != http.StatusOK {
		t.Fatalf("from another address: got %d %s, want 200", status, code)
	}
	srv.Clock.Advance(time.Second)
	if status, code, _ := login(t, flood, srv.URL, adminUser, adminPassword); status != http.StatusOK {
		t.Fatalf("after Retry-After: got %d %s, want 200", status, code)
	}
}

func login(t *testing.T, c *http.Client, url, user, password string) (status int, code string, retryAfter int) {
	t.Helper()
	body, _ := json.Marshal(wire.LoginRequest{Username: user, Password: password})
	resp, err := c.Post(url+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&eb)
	retryAfter, _ = strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, eb.Code, retryAfter
}

// TestLoginLongUserName sends a user name of a megabyte, with control
// characters: it is refused as invalid, stored nowhere, and logged only
// cut short and escaped.
func TestLoginLongUserName(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	name := "\x1b[2J" + strings.Repeat("x", 1<<20)
	status, code, _ := login(t, http.DefaultClient, srv.URL, name, "wrong password")
	if status != http.StatusBadRequest || code != usher.EInvalid {
		t.Fatalf("got %d %s, want 400 %s", status, code, usher.EInvalid)
	}
	if failed := srv.Events.ofType(httpapi.EventLoginFailed); len(failed) != 0 {
		t.Errorf("got %d login_failed events, want none", len(failed))
	}
	log := srv.Log.String()
	if max := 1024; len(log) > max {
		t.Errorf("the log grew by %d bytes, want at most %d", len(log), max)
	}
	if !strings.Contains(log, `\x1b[2Jxxx`) || !strings.Contains(log, "more bytes") {
		t.Errorf("the log does not show the name escaped and cut short:\n%s", log)
	}
	if status, code, _ := login(t, http.DefaultClient, srv.URL, strings.Repeat("y", auth.MaxNameLength), "wrong password"); status != http.StatusUnauthorized {
		t.Errorf("a name of %d bytes: got %d %s, want 401", auth.MaxNameLength, status, code)
	}
}
