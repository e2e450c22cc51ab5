package usher_test

import (
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
)

func TestLogSafe(t *testing.T) {
	long := strings.Repeat("a", 2<<20)
	for _, tc := range []struct{ in, want string }{
		{"ws12", "ws12"},
		{"\x1b[2J\nlevel=ERROR forged", `\x1b[2J\nlevel=ERROR forged`},
		{strings.Repeat("b", usher.MaxLogValue), strings.Repeat("b", usher.MaxLogValue)},
		{long, strings.Repeat("a", usher.MaxLogValue) + "…(2097024 more bytes)"},
		// A cut inside a character keeps the whole characters before it.
		{strings.Repeat("a", usher.MaxLogValue-1) + "é", strings.Repeat("a", usher.MaxLogValue-1) + "…(2 more bytes)"},
		{strings.Repeat("\x00", usher.MaxLogValue+1), strings.Repeat(`\x00`, usher.MaxLogValue) + "…(1 more bytes)"},
	} {
		if got := usher.LogSafe(tc.in); got != tc.want {
			t.Errorf("LogSafe(%.40q…) = %.60q…, want %.60q…", tc.in, got, tc.want)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"zoë 😀":              "zoë 😀",
		"a\rb\nc\td":         `a\rb\nc\td`,
		"\x7f\u009b\u0085":   `\x7f\u009b\u0085`,
		"abc\u202edef":       `abc\u202edef`,
		"bad \xff\xfe bytes": `bad \xff\xfe bytes`,
	} {
		if got := usher.Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
