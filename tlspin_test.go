package usher_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
)

func TestPinnedTLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	fp := usher.CertificateFingerprint(srv.Certificate().Raw)

	get := func(fingerprint string) error {
		cfg, err := usher.PinnedTLSConfig(fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	for _, form := range []string{fp, strings.ToLower(strings.ReplaceAll(fp, ":", "")), "sha256:" + fp} {
		if err := get(form); err != nil {
			t.Errorf("pinned %q: %v", form, err)
		}
	}
	other := "00" + fp[2:]
	if err := get(other); err == nil || !strings.Contains(err.Error(), "not the pinned one") {
		t.Errorf("wrong pin: got %v, want a fingerprint mismatch", err)
	}
}

func TestParseFingerprintInvalid(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("ab", 31)} {
		if _, err := usher.PinnedTLSConfig(bad); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("PinnedTLSConfig(%q) = %v, want invalid_request", bad, err)
		}
	}
}
