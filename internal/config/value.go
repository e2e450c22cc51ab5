package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Duration is a time.Duration written in TOML as a quoted string like
// "180s". A bare number is refused rather than read as nanoseconds.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration: use a value like \"180s\" or \"5m\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String writes the duration as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalTOML takes a quoted duration and refuses a bare number.
func (d *Duration) UnmarshalTOML(raw []byte) error {
	v, err := scalar(raw)
	if err != nil {
		return err
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a quoted duration like \"180s\", got %s", raw)
	}
	return d.UnmarshalText([]byte(s))
}

// Size is a number of bytes, written with a unit: "200KB", "10MB", "1GB"
// (KB is 1024 bytes, MB 1024 KB, GB 1024 MB; "B" or no unit in a string
// is bytes). A bare TOML integer, or a string without a unit from a flag
// or the environment, counts megabytes, as log_max_size always did.
type Size int64

// Size units.
const (
	KB Size = 1 << 10
	MB Size = 1 << 20
	GB Size = 1 << 30
)

var sizeUnits = []struct {
	name string
	size Size
}{{"GB", GB}, {"MB", MB}, {"KB", KB}, {"GIB", GB}, {"MIB", MB}, {"KIB", KB}, {"B", 1}}

// UnmarshalText parses a size with a unit; a bare number is megabytes.
func (s *Size) UnmarshalText(b []byte) error {
	text := strings.ToUpper(strings.TrimSpace(string(b)))
	unit := MB
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(text, u.name); ok {
			text, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > int64(1<<62/unit) {
		return fmt.Errorf("%q is not a size: use a value like \"200KB\" or \"10MB\" (a bare number is megabytes)", b)
	}
	*s = Size(n) * unit
	return nil
}

// MarshalText writes the size in the largest unit that holds it exactly.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String writes the size in the largest unit that holds it exactly, like
// "200KB"; Set reads it back to the same size.
func (s Size) String() string {
	for _, u := range sizeUnits[:3] {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalTOML takes a quoted size with a unit, or a whole number of
// megabytes.
func (s *Size) UnmarshalTOML(raw []byte) error {
	v, err := scalar(raw)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case int64:
		return s.UnmarshalText([]byte(strconv.FormatInt(v, 10)))
	case string:
		return s.UnmarshalText([]byte(v))
	}
	return fmt.Errorf("want a size like \"200KB\" or a whole number of megabytes, got %s", raw)
}

// List is a list of strings. TOML gives it as a list or as one string; a
// flag or environment variable as a comma-separated list.
type List []string

// UnmarshalText splits a comma-separated list, dropping empty items.
func (l *List) UnmarshalText(b []byte) error {
	var out List
	for _, s := range strings.Split(string(b), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*l = out
	return nil
}

// String joins the list with commas.
func (l List) String() string { return strings.Join(l, ",") }

// UnmarshalTOML takes a list of strings or a single string.
func (l *List) UnmarshalTOML(raw []byte) error {
	v, err := scalar(raw)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		return l.UnmarshalText([]byte(v))
	case []any:
		out := make(List, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a list of quoted strings, got %s", raw)
			}
			out = append(out, s)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a list of quoted strings, got %s", raw)
}

// scalar decodes one raw TOML value.
func scalar(raw []byte) (any, error) {
	var doc struct {
		V any `toml:"v"`
	}
	if err := toml.Unmarshal(append([]byte("v = "), raw...), &doc); err != nil {
		return nil, fmt.Errorf("%s is not a TOML value", raw)
	}
	return doc.V, nil
}
