package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// field returns a pointer to the field of c that holds key k, found by its
// TOML tag (k.Table for a key inside a table).
func (c *Config) field(k Key) (any, error) {
	path := strings.Split(k.name(), ".")
	v := reflect.ValueOf(c).Elem()
	for _, tag := range path {
		f, ok := fieldByTag(v, tag)
		if !ok {
			return nil, fmt.Errorf("key %s has no field in Config", k.Name)
		}
		v = f
	}
	return v.Addr().Interface(), nil
}

// fieldByTag finds the field tagged toml:"tag" in struct v or in a struct
// it embeds.
func fieldByTag(v reflect.Value, tag string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Tag.Get("toml") == tag {
			return v.Field(i), true
		}
		if sf.Anonymous {
			if f, ok := fieldByTag(v.Field(i), tag); ok {
				return f, true
			}
		}
	}
	return reflect.Value{}, false
}

// Set sets one key from its string form, as flags and environment
// variables give it. A list key takes a comma-separated list. Errors name
// the key.
func (c *Config) Set(key, value string) error {
	k, ok := LookupKey(key)
	if !ok {
		return unknownKey(key)
	}
	p, err := c.field(k)
	if err != nil {
		return err
	}
	if err := setValue(p, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func unknownKey(key string) error {
	return fmt.Errorf("unknown key %q: see docs/config.md for every key", key)
}

func setValue(p any, value string) error {
	var err error
	switch p := p.(type) {
	case *string:
		*p = value
	case *bool:
		*p, err = strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
	case *int:
		var n int64
		n, err = parseInt(value)
		*p = int(n)
	case *int64:
		*p, err = parseInt(value)
	case interface{ UnmarshalText([]byte) error }: // Duration, Size, List
		err = p.UnmarshalText([]byte(value))
	default:
		err = fmt.Errorf("cannot set a %T", p)
	}
	return err
}

func parseInt(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return n, nil
}

// Get returns a key's value in the string form Set takes; lists are
// comma-separated.
func (c *Config) Get(key string) (string, error) {
	k, ok := LookupKey(key)
	if !ok {
		return "", unknownKey(key)
	}
	p, err := c.field(k)
	if err != nil {
		return "", err
	}
	v := reflect.ValueOf(p).Elem().Interface()
	if s, ok := v.(fmt.Stringer); ok {
		return s.String(), nil
	}
	return fmt.Sprint(v), nil
}

// Map returns every key's value as Get gives it, for display: the value of
// a secret key is replaced by "(set)".
func (c *Config) Map() map[string]string {
	m := make(map[string]string, len(registry))
	for _, k := range registry {
		v, err := c.Get(k.Name)
		if err != nil {
			continue
		}
		if v != "" && k.Secret {
			v = "(set)"
		}
		m[k.Name] = v
	}
	return m
}

// value returns the value of key k, for its check.
func (c *Config) value(k Key) any {
	p, err := c.field(k)
	if err != nil {
		return nil
	}
	return reflect.ValueOf(p).Elem().Interface()
}
