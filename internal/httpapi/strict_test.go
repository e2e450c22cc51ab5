package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// post sends body to path with the admin token and returns the status and
// the decoded error body.
func post(t *testing.T, url, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("POST %s: body is not JSON: %q", path, data)
	}
	return resp.StatusCode, out
}

func TestRequestsMustBeStrictJSON(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	defer http.DefaultClient.CloseIdleConnections()
	for _, tc := range []struct {
		name, body string
		mention    string // the message must contain it
	}{
		{"trailing garbage", `{"feature":"cad","client":{"id":"a"}} xyz`, "after the JSON object"},
		{"two objects", `{"feature":"cad","client":{"id":"a"}}{"feature":"cad","client":{"id":"b"}}`, "after the JSON object"},
		{"duplicate key", `{"feature":"nope","feature":"cad","client":{"id":"a"}}`, `duplicate key "feature"`},
		{"duplicate nested key", `{"feature":"cad","client":{"id":"a","id":"b"}}`, `duplicate key "client.id"`},
		{"key in upper case", `{"FEATURE":"cad","client":{"id":"a"}}`, `use "feature"`},
		{"nested key in other case", `{"feature":"cad","client":{"Id":"a"}}`, `use "id"`},
		{"unknown key", `{"feature":"cad","client":{"id":"a"},"wiat":"60s"}`, `unknown key "wiat"`},
		{"unknown nested key", `{"feature":"cad","client":{"id":"a","nmae":"x"}}`, `unknown key "client.nmae"`},
		{"array", `[{"feature":"cad","client":{"id":"a"}}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"wrong type", `{"feature":"cad","client":{"id":"a","pid":"42"}}`, "client.pid: want a whole number, got a string"},
		{"number for a duration", `{"feature":"cad","client":{"id":"a"},"wait":120}`, "wait: want a string, got a number"},
		{"fraction for a whole number", `{"feature":"cad","client":{"id":"a","pid":1.5}}`, "client.pid: want a whole number, got a number"},
		{"bad syntax", `{"feature":"cad","client":{"id":"a"}`, "not valid JSON"},
		{"invalid UTF-8", "{\"feature\":\"cad\",\"client\":{\"id\":\"a\",\"host\":\"\xff\xfe-host1\"}}", "UTF-8"},
		{"lone surrogate", `{"feature":"cad","client":{"id":"a","host":"\ud800-host1"}}`, `"client.host"`},
		{"replacement character", `{"feature":"cad","client":{"id":"a","host":"` + "\uFFFD" + `-host1"}}`, `"client.host"`},
	} {
		status, body := post(t, srv.URL, "/v1/leases", tc.body)
		msg, _ := body["message"].(string)
		if status != http.StatusBadRequest || body["code"] != usher.EInvalid || !strings.Contains(msg, tc.mention) {
			t.Errorf("%s: %d %v, want 400 %s mentioning %q", tc.name, status, body, usher.EInvalid, tc.mention)
		}
	}
	if got := srv.Ledger.Leases(); len(got) != 0 {
		t.Fatalf("refused requests took leases: %+v", got)
	}
	ok := `{"feature":"cad","client":{"id":"a","user":"zoë","host":"\ud83d\ude00 h\u00f4te"},"wait":"1s"}` + "\n"
	if status, body := post(t, srv.URL, "/v1/leases", ok); status != http.StatusCreated {
		t.Fatalf("strict, valid request: %d %v, want 201", status, body)
	}
	if got := srv.Ledger.Leases(); len(got) != 1 || got[0].Client.Host != "😀 hôte" {
		t.Fatalf("leases %+v, want one with host %q", got, "😀 hôte")
	}
}

func TestLoginKeysAreExact(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	defer http.DefaultClient.CloseIdleConnections()
	body := `{"Username":"` + adminUser + `","password":"` + adminPassword + `"}`
	if status, out := post(t, srv.URL, "/v1/auth/login", body); status != http.StatusBadRequest || !strings.Contains(out["message"].(string), `use "username"`) {
		t.Fatalf("login with key Username: %d %v, want 400 naming username", status, out)
	}
}

func TestNonCanonicalPathsAnswerJSON(t *testing.T) {
	srv := MustStartAPI(t, serverOptions{})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	for _, p := range []string{"//v1/leases", "/v1/../v1/features", "/v1/./features", "/v1//features", "/v1/features/."} {
		req, err := http.NewRequest("GET", srv.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]any
		err = json.Unmarshal(data, &body)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || err != nil || body["code"] != wire.ENotFound {
			t.Errorf("GET %s: %d %s %q, want 404 JSON %s", p, resp.StatusCode, resp.Header.Get("Content-Type"), data, wire.ENotFound)
		}
	}
}
