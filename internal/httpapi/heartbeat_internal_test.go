package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/wire"
)

// TestWriteHeartbeatMatchesJSON checks the hand-written heartbeat answer
// against encoding/json's, byte for byte.
func TestWriteHeartbeatMatchesJSON(t *testing.T) {
	for _, hb := range []wire.HeartbeatResponse{
		{ID: "ls_0123456789abcdef01234567", ExpiresAt: time.Date(2026, 11, 23, 13, 47, 37, 132361448, time.UTC)},
		{ID: "ls_1", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "ls_2", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			LeaseProof: wire.LeaseProof{Token: "AQVsZWFzZQ.c2ln-_", SessionCert: "AQ.c2ln"}},
		{ID: `odd "id" ü`, ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))},
	} {
		rec := httptest.NewRecorder()
		writeHeartbeat(rec, hb)
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(hb)
		if got := rec.Body.String(); got != want.String() {
			t.Errorf("got %q, want %q", got, want.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
	}
}
