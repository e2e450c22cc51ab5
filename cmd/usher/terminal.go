package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	usher "github.com/usher-lm/usher"
)

// termSafe returns s fit to write to a terminal, as usher.Escape does:
// client ids, user and host names come from anyone who can check out;
// written raw they could clear the screen, retitle the terminal or forge
// rows. JSON output needs none of this: the encoder escapes them.
func termSafe(s string) string { return usher.Escape(s) }

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
