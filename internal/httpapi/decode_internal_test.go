package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/usher-lm/usher/internal/wire"
)

var checkoutJSON = []byte(`{"feature":"cad","client":{"id":"build-agent-17:4242","user":"alice","host":"ws12.example.com","pid":4242},"wait":"60s"}`)

// BenchmarkDecodeCheckout compares the strict decoding of a checkout body
// with encoding/json's alone, the cost it adds to every checkout.
func BenchmarkDecodeCheckout(b *testing.B) {
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req wire.CheckoutRequest
			if err := decodeStrict(checkoutJSON, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req wire.CheckoutRequest
			if err := json.NewDecoder(bytes.NewReader(checkoutJSON)).Decode(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeStrict checks that the strict decoder never panics, and
// accepts nothing encoding/json refuses.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{string(checkoutJSON), `{"set":{"a":"b"},"reset":["x","y"]}`, `{"feature":"\ud800"}`, `{"client":{"id":1}} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req wire.CheckoutRequest
		if decodeStrict(data, &req) == nil && json.Unmarshal(data, new(wire.CheckoutRequest)) != nil {
			t.Fatalf("accepted %q, which encoding/json refuses", data)
		}
		var set wire.SettingsRequest
		if decodeStrict(data, &set) == nil && json.Unmarshal(data, new(wire.SettingsRequest)) != nil {
			t.Fatalf("accepted %q, which encoding/json refuses", data)
		}
	})
}

// TestSettingsTypeErrorNamesTheKey checks that a settings value of the
// wrong JSON type is reported with its key and the form values take.
func TestSettingsTypeErrorNamesTheKey(t *testing.T) {
	var req wire.SettingsRequest
	err := decodeStrict([]byte(`{"set":{"log_level":"4","keepalive_timeout":120}}`), &req)
	want := `set: "keepalive_timeout": want a string, got a number: values are strings, like "120s"`
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
}
