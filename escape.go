package usher

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLogValue is how many bytes of a client-supplied string LogSafe keeps.
const MaxLogValue = 128

// LogSafe returns a client-supplied string (a user, host or client id, a
// feature name, a path from a request) fit for a log line: at most
// MaxLogValue bytes of it, cut at a character boundary and marked with how
// many bytes were left out, and escaped as Escape does. Every log line of
// the server that shows client input passes it through LogSafe, so that
// anonymous input can neither grow the log by its own size nor forge
// lines.
func LogSafe(s string) string {
	if len(s) <= MaxLogValue {
		return Escape(s)
	}
	cut := MaxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d more bytes)", Escape(s[:cut]), len(s)-cut)
}

// Escape returns s with every control character (C0 including tab and
// newline, DEL, C1), every character that reorders a line (bidirectional
// overrides and isolates), and every byte that is not UTF-8 written as a
// Go escape such as \x1b, \r or \u009b, so that a string from a client
// can be shown to a person in a terminal or a log without clearing the
// screen, retitling the terminal or forging rows. A string with nothing to
// escape is returned as it is.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r, n):
			b.WriteString(strings.Trim(fmt.Sprintf("%+q", r), "'"))
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports whether r, n bytes long, must be escaped.
func unsafeRune(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1, r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}
