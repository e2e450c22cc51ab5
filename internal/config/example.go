package config

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// WriteExample writes a configuration file that names every key with its
// usage and its default, commented out, so that an admin sees all there
// is to set in one place; packages install it as /etc/usher/usher.toml.
// The keys in set are written uncommented with the value given (in the
// form Set takes). It refuses a key it does not know or a value Set
// refuses, so the file it writes always loads.
func WriteExample(w io.Writer, set map[string]string) error {
	for name, v := range set {
		var c Config
		if err := c.Set(name, v); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString("# Usher server configuration. Every key is listed with its default;\n" +
		"# a line starting with # has no effect. USHER_<KEY> environment variables\n" +
		"# and --<key> flags override this file (see docs/config.md).\n")
	var tables []Key
	for _, k := range registry {
		if k.Table != "" {
			tables = append(tables, k)
			continue
		}
		writeExampleKey(&b, k, k.Name, set)
	}
	writeExampleTables(&b, tables, set)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeExampleTables writes the keys that sit in TOML tables, under one
// header per table, after every top-level key (a key after a header
// belongs to its table).
func writeExampleTables(b *strings.Builder, keys []Key, set map[string]string) {
	byTable := map[string][]Key{}
	for _, k := range keys {
		table, _, _ := strings.Cut(k.Table, ".")
		byTable[table] = append(byTable[table], k)
	}
	names := make([]string, 0, len(byTable))
	for t := range byTable {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		fmt.Fprintf(b, "\n[%s]\n", t)
		for _, k := range byTable[t] {
			_, leaf, _ := strings.Cut(k.Table, ".")
			writeExampleKey(b, k, leaf, set)
		}
	}
}

// backquoted is a `WORD` of a usage text, which --help shows as the flag's
// value name and the example shows without its quotes.
var backquoted = regexp.MustCompile("`([^`]*)`")

func writeExampleKey(b *strings.Builder, k Key, name string, set map[string]string) {
	usage := backquoted.ReplaceAllString(k.Usage, "$1")
	b.WriteString("\n")
	for _, line := range wrap(usage, 74) {
		b.WriteString("# " + line + "\n")
	}
	if v, ok := set[k.Name]; ok {
		fmt.Fprintf(b, "%s = %s\n", name, tomlValue(k, v))
		return
	}
	fmt.Fprintf(b, "# %s = %s\n", name, tomlValue(k, k.Default))
}

// tomlValue writes v, a value in the form Set takes, as TOML of the key's
// type.
func tomlValue(k Key, v string) string {
	switch k.zero().(type) {
	case *bool:
		if v == "" {
			return "false"
		}
		return v
	case *int, *int64:
		if v == "" {
			return "0"
		}
		return v
	case *List:
		if v == "" {
			return "[]"
		}
		var items []string
		for _, s := range strings.Split(v, ",") {
			items = append(items, strconv.Quote(strings.TrimSpace(s)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	default: // strings, durations and sizes
		return strconv.Quote(v)
	}
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
