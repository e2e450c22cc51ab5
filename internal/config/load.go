package config

import (
	"flag"
	"fmt"
	"strings"
)

// Flags holds the values given on the command line for registry keys, in
// the order they were first given. Bind it to a flag set with BindFlags.
type Flags struct {
	order  []string
	values map[string][]string
}

// BindFlags defines a flag on fs for every key (see Key.Flag) and returns
// where their values are kept. A list flag may be repeated; its values add
// up.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{values: map[string][]string{}}
	for _, k := range registry {
		record := func(v string) error {
			if len(f.values[k.Name]) == 0 {
				f.order = append(f.order, k.Name)
			}
			f.values[k.Name] = append(f.values[k.Name], v)
			return nil
		}
		if k.IsBool() {
			fs.BoolFunc(k.Flag(), k.FlagUsage(), record)
		} else {
			fs.Func(k.Flag(), k.FlagUsage(), record)
		}
	}
	return f
}

// Sources are what a configuration is built from. Each overrides the
// defaults and the sources before it: File, then Env, then Flags.
type Sources struct {
	File  string              // a TOML file; "" for none
	Env   func(string) string // looks up USHER_<KEY>; nil for none. An empty value is unset.
	Flags *Flags              // from BindFlags; nil for none
}

// Load returns the defaults overridden by the sources, file < environment
// < flags. It does not validate: call Validate. Errors name the source
// and the key.
func Load(src Sources) (Config, error) {
	c := Default()
	if src.File != "" {
		if err := c.LoadFile(src.File); err != nil {
			return c, err
		}
	}
	if src.Env != nil {
		for _, k := range registry {
			if v := src.Env(k.Env()); v != "" {
				if err := c.Set(k.Name, v); err != nil {
					return c, fmt.Errorf("environment %s: %w", k.Env(), err)
				}
			}
		}
	}
	if src.Flags != nil {
		for _, name := range src.Flags.order {
			k, _ := LookupKey(name)
			vals := src.Flags.values[name]
			v := vals[len(vals)-1] // a repeated flag: the last one wins
			if k.IsList() {
				v = strings.Join(vals, ",")
			}
			if err := c.Set(name, v); err != nil {
				return c, fmt.Errorf("flag --%s: %w", k.Flag(), err)
			}
		}
	}
	return c, nil
}
