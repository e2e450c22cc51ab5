package eventlog_test

import (
	"os"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/eventlog"
)

// TestEventDocsCoverEveryType keeps docs/events.md complete.
func TestEventDocsCoverEveryType(t *testing.T) {
	data, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range eventlog.Types() {
		if !strings.Contains(string(data), "| `"+typ+"` |") {
			t.Errorf("docs/events.md lacks a row for %s", typ)
		}
	}
}
