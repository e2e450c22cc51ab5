package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	usher "github.com/usher-lm/usher"
)

// decodeJSON reads a request body into v, a pointer to a struct. The body
// must be valid UTF-8 holding one JSON object whose keys are v's fields,
// spelled exactly, each at most once, with nothing after it; see
// docs/api.md. Every refusal is EInvalid and names the problem.
func decodeJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return usher.Errorf(usher.EInvalid, "request body is larger than %d bytes", tooBig.Limit)
		}
		return usher.Errorf(usher.EInvalid, "read request body: %v", err)
	}
	return decodeStrict(data, v)
}

// decodeStrict checks data as decodeJSON describes and decodes it into v.
// encoding/json alone matches keys without regard to case, keeps the last
// of duplicate keys and replaces invalid UTF-8 and lone surrogates with
// U+FFFD: after it has checked the syntax, one pass over the bytes checks
// the rest (see BenchmarkDecodeCheckout for what it costs).
func decodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return usher.Errorf(usher.EInvalid, "request body is not valid UTF-8 (byte %d): send text in UTF-8", invalidUTF8At(data))
	}
	body := bytes.TrimSpace(data)
	if len(body) == 0 {
		return usher.Errorf(usher.EInvalid, "request body is empty: send a JSON object")
	}
	if body[0] != '{' {
		return usher.Errorf(usher.EInvalid, "request body is not a JSON object: send {...}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return syntaxError(body, err)
	}
	sc := scanner{data: body}
	return sc.object(reflect.TypeOf(v).Elem(), "")
}

// syntaxError explains why body did not decode: data after the first
// value, bad syntax, or a value of the wrong type.
func syntaxError(body []byte, err error) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if dec.Decode(&first) == nil {
		if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
			return usher.Errorf(usher.EInvalid, "unexpected data after the JSON object: %q: send exactly one object", clip(rest, 20))
		}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeError(body, typeErr)
	}
	return usher.Errorf(usher.EInvalid, "request body is not valid JSON: %v", err)
}

// typeError says which field has a value of the wrong JSON type, what it
// wants and what it got, in words rather than Go types. A map's value
// names its key too: encoding/json reports only the map's field.
func typeError(body []byte, err *json.UnmarshalTypeError) error {
	got, _, _ := strings.Cut(err.Value, " ")
	want := jsonTypeWords(err.Type)
	if key, ok := mapValueKey(body, err); ok && got != "object" {
		return usher.Errorf(usher.EInvalid, "%s: %q: want %s, got %s: values are strings, like \"120s\"", err.Field, key, want, article(got))
	}
	return usher.Errorf(usher.EInvalid, "%s: want %s, got %s", err.Field, want, article(got))
}

// jsonTypeWords names the JSON value a Go type decodes from.
func jsonTypeWords(t reflect.Type) string {
	if t.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonTypeWords(t.Elem())
	}
	return "an object"
}

// article puts "a" or "an" before a JSON type's name.
func article(jsonType string) string {
	switch jsonType {
	case "array", "object":
		return "an " + jsonType
	case "bool":
		return "true or false"
	}
	return "a " + jsonType
}

// mapValueKey finds, when err's field is a JSON object decoded into a map,
// the first key (in sorted order) whose value does not fit err.Type.
func mapValueKey(body []byte, err *json.UnmarshalTypeError) (string, bool) {
	raw := json.RawMessage(body)
	for _, name := range strings.Split(err.Field, ".") {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", false
		}
		raw = obj[name]
	}
	var values map[string]json.RawMessage
	if err.Type == nil || json.Unmarshal(raw, &values) != nil {
		return "", false
	}
	keys := slices.Sorted(maps.Keys(values))
	for _, k := range keys {
		if json.Unmarshal(values[k], reflect.New(err.Type).Interface()) != nil {
			return k, true
		}
	}
	return "", false
}

// scanner walks JSON text that encoding/json has already accepted, so it
// checks no syntax.
type scanner struct {
	data []byte
	i    int
}

func (s *scanner) space() {
	for s.i < len(s.data) && (s.data[s.i] == ' ' || s.data[s.i] == '\t' || s.data[s.i] == '\n' || s.data[s.i] == '\r') {
		s.i++
	}
}

// object checks the object at s.i, which decodes into t (nil: checks only
// duplicates and strings), and moves past it.
func (s *scanner) object(t reflect.Type, path string) error {
	var fields *structFields
	var elem reflect.Type
	switch t = opaque(t); {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	var seen keySet
	s.i++ // '{'
	for s.space(); s.data[s.i] != '}'; s.space() {
		key, escaped := s.str()
		if escaped {
			key = []byte(unquote(key))
		}
		if bytes.ContainsRune(key, utf8.RuneError) {
			return replaced(path, key)
		}
		if seen.add(key) {
			return usher.Errorf(usher.EInvalid, "duplicate key %q: give each key once", join(path, key))
		}
		if fields != nil {
			ft, ok := fields.types[string(key)]
			if !ok {
				return fields.unknown(string(key), join(path, key))
			}
			elem = ft
		}
		s.space()
		s.i++ // ':'
		if err := s.value(elem, path, key); err != nil {
			return err
		}
		if s.space(); s.data[s.i] == ',' {
			s.i++
		}
	}
	s.i++ // '}'
	return nil
}

// value checks the value at s.i, the member key of path, and moves past it.
func (s *scanner) value(t reflect.Type, path string, key []byte) error {
	s.space()
	switch s.data[s.i] {
	case '{':
		return s.object(t, join(path, key))
	case '[':
		return s.array(t, join(path, key))
	case '"':
		raw, escaped := s.str()
		if escaped && strings.ContainsRune(unquote(raw), utf8.RuneError) || bytes.Contains(raw, replacementChar) {
			return replaced(path, key)
		}
		return nil
	}
	for s.i < len(s.data) && strings.IndexByte(",]} \t\r\n", s.data[s.i]) < 0 {
		s.i++ // a number, true, false or null
	}
	return nil
}

// array checks the array at s.i, which decodes into t, and moves past it.
func (s *scanner) array(t reflect.Type, path string) error {
	var elem reflect.Type
	if t = opaque(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	s.i++ // '['
	for n := 0; ; n++ {
		if s.space(); s.data[s.i] == ']' {
			s.i++
			return nil
		}
		if err := s.value(elem, path, fmt.Appendf(nil, "[%d]", n)); err != nil {
			return err
		}
		if s.space(); s.data[s.i] == ',' {
			s.i++
		}
	}
}

// str returns the contents of the string at s.i, whether they hold escapes,
// and moves past it.
func (s *scanner) str() (raw []byte, escaped bool) {
	start := s.i + 1
	for s.i = start; s.data[s.i] != '"'; s.i++ {
		if s.data[s.i] == '\\' {
			escaped = true
			s.i++
		}
	}
	s.i++
	return s.data[start : s.i-1], escaped
}

// unquote decodes the contents of a JSON string with escapes.
func unquote(raw []byte) string {
	var out string
	_ = json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &out) // already accepted by encoding/json
	return out
}

var replacementChar = []byte("\uFFFD")

// replaced refuses a string holding U+FFFD, the member key of path (or
// that key itself). The body is valid UTF-8, so U+FFFD came from a lone
// surrogate escape such as "\ud800" or was sent as such: either way it
// stands for text the client did not mean, and would make two different
// inputs equal.
func replaced(path string, key []byte) error {
	return usher.Errorf(usher.EInvalid, "key %q: contains U+FFFD or an escaped lone surrogate: send valid UTF-8 text", join(path, key))
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque returns t without pointers, or nil when its contents are not
// checked against fields: an interface, or a type that decodes itself.
func opaque(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if p := reflect.PointerTo(t); p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) {
		return nil
	}
	return t
}

// structFields are the JSON keys of a struct type and the type each
// decodes into.
type structFields struct {
	types map[string]reflect.Type
	names []string // sorted, for messages
}

// unknown is the error for a key that is not a field.
func (f *structFields) unknown(key, name string) error {
	for _, n := range f.names {
		if strings.EqualFold(n, key) {
			return usher.Errorf(usher.EInvalid, "unknown key %q: keys are case-sensitive: use %q", name, n)
		}
	}
	return usher.Errorf(usher.EInvalid, "unknown key %q: the keys here are %s", name, strings.Join(f.names, ", "))
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf returns the JSON keys of struct type t, computed once.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{types: make(map[string]reflect.Type)}
	addFields(f, t)
	for n := range f.types {
		f.names = append(f.names, n)
	}
	slices.Sort(f.names)
	fieldCache.Store(t, f)
	return f
}

// addFields adds the keys of t's fields, including those of embedded
// structs without a tag, as encoding/json does.
func addFields(f *structFields, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			if ft := opaque(sf.Type); ft != nil && ft.Kind() == reflect.Struct {
				addFields(f, ft)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f.types[name] = sf.Type
	}
}

// keySet remembers the keys of one object; the first few need no
// allocation, which keeps a checkout's cheap.
type keySet struct {
	small [8][]byte
	n     int
	m     map[string]struct{}
}

// add records key and reports whether it was there already.
func (s *keySet) add(key []byte) bool {
	if s.m == nil {
		for _, k := range s.small[:s.n] {
			if bytes.Equal(k, key) {
				return true
			}
		}
		if s.n < len(s.small) {
			s.small[s.n], s.n = key, s.n+1
			return false
		}
		s.m = make(map[string]struct{}, 4*len(s.small))
		for _, k := range s.small {
			s.m[string(k)] = struct{}{}
		}
	}
	if _, dup := s.m[string(key)]; dup {
		return true
	}
	s.m[string(key)] = struct{}{}
	return false
}

// join names member key of path for a message, as "client.id" or
// "reset[1]", shortening a long key.
func join(path string, key []byte) string {
	k := clip(key, 64)
	if path == "" || strings.HasPrefix(k, "[") {
		return path + k
	}
	return path + "." + k
}

// invalidUTF8At returns the offset of the first byte that is not valid
// UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// clip shortens b to at most n bytes for a message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
