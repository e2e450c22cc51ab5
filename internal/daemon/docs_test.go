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
	}
}
