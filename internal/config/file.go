package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// LoadFile decodes a TOML file over c, strictly: an unknown key, a value
// of the wrong type or a bad value is an error that names the key (and,
// where the decoder knows it, its line).
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := c.decode(data); err != nil {
		return fmt.Errorf("config %s%w", path, err)
	}
	return nil
}

// decode decodes a TOML document over c. Its errors start with ":LINE:COL: "
// or ": ", to follow the file name.
func (c *Config) decode(data []byte) error {
	if err := checkKeyCase(data); err != nil {
		return err
	}
	doc := reflect.New(docType())
	doc.Elem().Field(0).Set(reflect.ValueOf(*c))
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().EnableUnmarshalerInterface().Decode(doc.Interface())
	if err != nil {
		return decodeError(data, err)
	}
	next := doc.Elem().Field(0).Interface().(Config)
	for i, k := range tableKeys() {
		if f := doc.Elem().Field(i + 1); !f.IsNil() {
			p, _ := next.field(k)
			reflect.ValueOf(p).Elem().Set(f.Elem())
		}
	}
	*c = next
	return nil
}

// tableKeys are the keys that sit in a TOML table (rate_limit.requests)
// and at the top level too (rate_limit_requests).
func tableKeys() []Key {
	var out []Key
	for _, k := range registry {
		if k.Table != "" {
			out = append(out, k)
		}
	}
	return out
}

// docType is the shape of a config file: Config, plus a field for the
// top-level spelling of each key that also sits in a table.
func docType() reflect.Type {
	fields := []reflect.StructField{{Name: "Config", Type: reflect.TypeFor[Config](), Anonymous: true}}
	for _, k := range tableKeys() {
		fields = append(fields, reflect.StructField{
			Name: "Flat" + strings.ReplaceAll(strings.ToUpper(k.Name), "_", ""),
			Type: reflect.PointerTo(reflect.TypeOf(k.zero()).Elem()),
			Tag:  reflect.StructTag(`toml:"` + k.Name + `"`),
		})
	}
	return reflect.StructOf(fields)
}

// decodeError names the key of a decoding error.
func decodeError(data []byte, err error) error {
	var missing *toml.StrictMissingError
	if errors.As(err, &missing) && len(missing.Errors) > 0 {
		e := missing.Errors[0]
		row, col := e.Position()
		return fmt.Errorf(":%d:%d: unknown key %q: see docs/config.md for every key", row, col, strings.Join(e.Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if key == "" {
			return fmt.Errorf(":%d:%d: %s", row, col, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf(":%d:%d: %s: %s", row, col, key, wrongType(key, de))
	}
	// A value type of this package refused the value; find whose, and where.
	key := blame(data)
	return fmt.Errorf("%s: %s: %w", keyPosition(data, key), key, err)
}

// keyPosition returns ":LINE:COL" of the first place the top-level key is
// set (as a key or as a table header), or "" when it is not found.
func keyPosition(data []byte, key string) string {
	var p unstable.Parser
	p.Reset(data)
	inTable := false
	for p.NextExpression() {
		n := p.Expression()
		if n.Kind == unstable.Table || n.Kind == unstable.ArrayTable {
			inTable = true
		}
		if n.Kind != unstable.Table && n.Kind != unstable.ArrayTable && (n.Kind != unstable.KeyValue || inTable) {
			continue
		}
		it := n.Key()
		if it.Next() && string(it.Node().Data) == key && it.Node().Raw.Length > 0 {
			pos := p.Shape(it.Node().Raw).Start
			return fmt.Sprintf(":%d:%d", pos.Line, pos.Column)
		}
	}
	return ""
}

// wrongType explains a type mismatch by what the key wants.
func wrongType(key string, de *toml.DecodeError) string {
	k, ok := LookupKey(strings.ReplaceAll(key, ".", "_"))
	if !ok || !strings.Contains(de.Error(), "cannot decode") {
		return strings.TrimPrefix(de.Error(), "toml: ")
	}
	switch k.zero().(type) {
	case *bool:
		return "want true or false"
	case *int, *int64:
		return "want a whole number"
	}
	return "want a quoted string"
}

// blame returns the TOML name of the first top-level field whose value
// cannot be decoded alone.
func blame(data []byte) string {
	t := docType()
	for _, sf := range reflect.VisibleFields(t) {
		tag := sf.Tag.Get("toml")
		if tag == "" || sf.Anonymous {
			continue
		}
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: sf.Type, Tag: sf.Tag}}))
		if toml.NewDecoder(bytes.NewReader(data)).EnableUnmarshalerInterface().Decode(one.Interface()) != nil {
			return tag
		}
	}
	return "a value"
}

// checkKeyCase refuses a key with an upper-case letter: TOML keys are
// case-sensitive and every key here is lower case, but the decoder matches
// fields ignoring case, which would let "Log_Level" through. Syntax errors
// are left to the decoder.
func checkKeyCase(data []byte) error {
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		if err := keyCase(&p, p.Expression()); err != nil {
			return err
		}
	}
	return nil
}

func keyCase(p *unstable.Parser, n *unstable.Node) error {
	if n.Kind != unstable.KeyValue && n.Kind != unstable.Table && n.Kind != unstable.ArrayTable {
		return nil
	}
	for it := n.Key(); it.Next(); {
		k := it.Node()
		if s := string(k.Data); s != strings.ToLower(s) {
			where := ""
			if k.Raw.Length > 0 {
				pos := p.Shape(k.Raw).Start
				where = fmt.Sprintf(":%d:%d", pos.Line, pos.Column)
			}
			return fmt.Errorf("%s: unknown key %q: keys are lower case: see docs/config.md for every key", where, s)
		}
	}
	if n.Kind == unstable.KeyValue && n.Value().Kind == unstable.InlineTable {
		for it := n.Value().Children(); it.Next(); {
			if err := keyCase(p, it.Node()); err != nil {
				return err
			}
		}
	}
	return nil
}
