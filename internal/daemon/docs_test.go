package daemon_test

import (
	"os"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/daemon"
)

// TestConfigDocsCoverEveryKey keeps docs/config.md complete: every key
// with its flag and environment variable.
func TestConfigDocsCoverEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, k := range daemon.Keys() {
		for _, want := range []string{
			"`" + k.Name + "`",
			"### `" + k.Name + "`",
			"`--" + strings.ReplaceAll(k.Name, "_", "-") + "`",
			"`USHER_" + strings.ToUpper(k.Name) + "`",
		} {
			if !strings.Contains(doc, want) {
				t.Errorf("docs/config.md lacks %s", want)
			}
		}
		if got, want := liveColumn(doc, k.Name), map[bool]string{true: "yes", false: "no"}[k.Live]; got != want {
			t.Errorf("docs/config.md: %s is live %q in the table, want %q", k.Name, got, want)
		}
	}
}

// liveColumn returns the last column of the key's row in the keys table.
func liveColumn(doc, key string) string {
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `"+key+"`") {
			cols := strings.Split(strings.Trim(line, "| "), "|")
			return strings.TrimSpace(cols[len(cols)-1])
		}
	}
	return ""
}
