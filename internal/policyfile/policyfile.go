// Package policyfile reads the admin's policy file (docs/policies.md), a
// TOML document, strictly: an unknown key or a value of the wrong type is
// refused with its line, and so is a rule the domain refuses.
package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"

	usher "github.com/usher-lm/usher"
)

// MaxSize bounds a policy file, so that one sent over the API stays small
// enough to store and replicate.
const MaxSize = 256 << 10

// Parse decodes and compiles a policy. An empty document is a policy
// without rules. Errors are EInvalid and start with "LINE:COL: " where the
// place is known.
func Parse(data []byte) (*usher.Policy, error) {
	if len(data) > MaxSize {
		return nil, usher.Errorf(usher.EInvalid, "the policy is %d bytes, more than the %d a policy may have: use groups and patterns to shorten it", len(data), MaxSize)
	}
	var spec usher.PolicySpec
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, usher.Errorf(usher.EInvalid, "%s", decodeError(err))
	}
	p, err := usher.CompilePolicy(spec)
	if err != nil {
		return nil, usher.Errorf(usher.EInvalid, "%s%s", locate(data, err.Error()), err.Error())
	}
	return p, nil
}

// Read reads and parses the policy file at path.
func Read(path string) (*usher.Policy, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, nil, usher.Errorf(usher.EInvalid, "policy %s:%s", path, usher.ErrorMessage(err))
	}
	return p, data, nil
}

func decodeError(err error) string {
	var missing *toml.StrictMissingError
	if errors.As(err, &missing) && len(missing.Errors) > 0 {
		e := missing.Errors[0]
		row, col := e.Position()
		return fmt.Sprintf("%d:%d: unknown key %q: the keys are groups and, under [feature.NAME], reserve, max, include, exclude, overdraft and linger (see docs/policies.md)", row, col, strings.Join(e.Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := plainTypes(strings.TrimPrefix(de.Error(), "toml: "))
		if key := strings.Join(de.Key(), "."); key != "" {
			msg = key + ": " + msg
		}
		return fmt.Sprintf("%d:%d: %s", row, col, msg)
	}
	return strings.TrimPrefix(err.Error(), "toml: ")
}

var goTypeError = regexp.MustCompile(`cannot decode TOML (\w+) into (?:struct field \S+ of type )?(\S+)`)

// plainTypes says a type error of the TOML decoder in the policy's own
// words rather than Go's.
func plainTypes(msg string) string {
	m := goTypeError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{
		"string":         `a string in quotes, such as "15m"`,
		"int":            "a whole number of seats",
		"[]string":       `a list of patterns, such as ["user:alice", "host:ws1*"]`,
		"map[string]int": `a table of pattern = seats, such as { "user:*" = 1 }`,
	}[m[2]]
	if want == "" {
		return msg
	}
	return fmt.Sprintf("found a TOML %s, want %s", m[1], want)
}

var quoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// locate returns "LINE:COL: " of the first place in data where a quoted
// pattern or key of msg is written, or of a named feature's table, or ""
// when it finds none.
func locate(data []byte, msg string) string {
	var needles []string
	for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
		needles = append(needles, `"`+m[1]+`"`)
	}
	if head, _, ok := strings.Cut(msg, ":"); ok {
		needles = append(needles, "["+strings.SplitN(head, "[", 2)[0]+"]") // [feature.cad] or [groups]
		if parts := strings.Split(head, "."); len(parts) >= 3 {
			needles = append(needles, "["+strings.Join(parts[:2], ".")+"]")
		}
	}
	for _, n := range needles {
		if i := bytes.Index(data, []byte(n)); i >= 0 {
			line := bytes.Count(data[:i], []byte("\n")) + 1
			col := i - bytes.LastIndexByte(data[:i], '\n')
			return fmt.Sprintf("%d:%d: ", line, col)
		}
	}
	return ""
}
