package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// termSafe returns s fit to write to a terminal: every control character
// (C0 including tab and newline, DEL, C1), every character that reorders
// a line (bidirectional overrides and isolates), and every byte that is
// not UTF-8 is written as a Go escape such as \x1b, \r or \u009b. Client
// ids, user and host names come from anyone who can check out; written
// raw they could clear the screen, retitle the terminal or forge rows.
// JSON output needs none of this: the encoder escapes them.
func termSafe(s string) string {
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

// table prints aligned columns for people. Every cell goes through
// termSafe, so a value cannot add a column or a row.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table on w with a header row of column names.
func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(anys(header)...)
	}
	return t
}

// row writes one row; each cell is formatted as by fmt.Sprint.
func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, termSafe(fmt.Sprint(c)))
	}
	io.WriteString(t.tw, "\n")
}

// flush writes the aligned table out.
func (t *table) flush() error { return t.tw.Flush() }

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
