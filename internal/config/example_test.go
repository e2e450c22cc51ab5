package config_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/usher-lm/usher/internal/config"
)

// uncomment turns every "# key = value" line of an example into "key = value".
var commentedKey = regexp.MustCompile(`(?m)^# ([a-z_]+ = .*)$`)

func TestExampleNamesEveryKeyAndLoads(t *testing.T) {
	var b strings.Builder
	set := map[string]string{"data": "/var/lib/usher", "vendor_key": "/etc/usher/vendor.pub"}
	if err := config.WriteExample(&b, set); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, k := range config.Keys() {
		name := k.Name
		if k.Table != "" {
			name = k.Table[strings.Index(k.Table, ".")+1:]
		}
		if !regexp.MustCompile(`(?m)^(# )?` + name + ` = `).MatchString(text) {
			t.Errorf("example has no line for key %s", k.Name)
		}
	}
	got := config.Default()
	if err := got.LoadFile(writeFile(t, text)); err != nil {
		t.Fatalf("example does not load: %v\n%s", err, text)
	}
	want := config.Default()
	for k, v := range set {
		if err := want.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example loads as\n%+v\nwant\n%+v", got, want)
	}
	// Uncommented, every default is a value the file accepts and the
	// default it names.
	all := config.Default()
	if err := all.LoadFile(writeFile(t, commentedKey.ReplaceAllString(text, "$1"))); err != nil {
		t.Fatalf("example with every key uncommented does not load: %v", err)
	}
	// (An empty TOML list loads as an empty slice, the default is nil: the
	// same setting.)
	if fmt.Sprintf("%+v", all) != fmt.Sprintf("%+v", want) {
		t.Errorf("example's defaults load as\n%+v\nwant\n%+v", all, want)
	}
}

func TestExampleRefusesUnknownKeyOrBadValue(t *testing.T) {
	for _, set := range []map[string]string{{"colour": "red"}, {"keepalive_timeout": "soon"}} {
		if err := config.WriteExample(&strings.Builder{}, set); err == nil {
			t.Errorf("WriteExample(%v): no error", set)
		}
	}
}
