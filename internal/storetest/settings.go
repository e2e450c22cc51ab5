package storetest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
)

// SettingsStore keeps the settings an admin changes at runtime, by key, so
// that they survive a restart. It is what the daemon asks of a store.
type SettingsStore interface {
	// Settings returns every stored setting.
	Settings(ctx context.Context) (map[string]string, error)
	// SetSettings stores the values in set and removes the keys in unset,
	// all or nothing. A key in both is removed; a missing or repeated key
	// in unset is no error.
	SetSettings(ctx context.Context, set map[string]string, unset []string) error
}

// SettingsFactory creates an empty backing medium for one test and returns
// a function that opens a SettingsStore on it. Each call of open reopens
// the same data; the suite closes a store (if it is an io.Closer) before
// reopening.
type SettingsFactory func(t *testing.T) (open func() SettingsStore)

// RunSettings runs the conformance suite of runtime settings against the
// stores that newStore makes.
func RunSettings(t *testing.T, newStore SettingsFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() SettingsStore)
	}{
		{"Empty", testSettingsEmpty},
		{"SetAndUnset", testSetAndUnset},
		{"NothingToDo", testSettingsNothingToDo},
		{"SetAndUnsetOneKey", testSetAndUnsetOneKey},
		{"ValuesKeptVerbatim", testSettingsVerbatim},
		{"ConcurrentKeys", testSettingsConcurrent},
		{"LargeValue", testSettingsLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func openSettings(t *testing.T, open func() SettingsStore) SettingsStore {
	t.Helper()
	s := open()
	t.Cleanup(func() { closeAny(t, s) })
	return s
}

func reopenSettings(t *testing.T, s SettingsStore, open func() SettingsStore) SettingsStore {
	t.Helper()
	closeAny(t, s)
	return openSettings(t, open)
}

func mustSet(t *testing.T, s SettingsStore, set map[string]string, unset []string) {
	t.Helper()
	if err := s.SetSettings(context.Background(), set, unset); err != nil {
		t.Fatalf("SetSettings(%v, %v): %v", set, unset, err)
	}
}

func wantSettings(t *testing.T, s SettingsStore, want map[string]string) {
	t.Helper()
	got, err := s.Settings(context.Background())
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got settings %v, want %v", got, want)
	}
}

func testSettingsEmpty(t *testing.T, open func() SettingsStore) {
	wantSettings(t, openSettings(t, open), map[string]string{})
}

func testSetAndUnset(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	mustSet(t, s, map[string]string{"log_level": "4", "keepalive_timeout": "2m"}, nil)
	mustSet(t, s, map[string]string{"log_level": "2"}, []string{"keepalive_timeout", "missing", "keepalive_timeout"})
	s = reopenSettings(t, s, open)
	wantSettings(t, s, map[string]string{"log_level": "2"})
}

func testSettingsNothingToDo(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	mustSet(t, s, map[string]string{"log_level": "4"}, nil)
	mustSet(t, s, nil, nil)
	mustSet(t, s, map[string]string{}, []string{})
	wantSettings(t, s, map[string]string{"log_level": "4"})
}

func testSetAndUnsetOneKey(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	mustSet(t, s, map[string]string{"log_level": "4", "event_retention": "720h"}, nil)
	mustSet(t, s, map[string]string{"log_level": "3", "connection_timeout": "1m"}, []string{"log_level"})
	s = reopenSettings(t, s, open)
	wantSettings(t, s, map[string]string{"event_retention": "720h", "connection_timeout": "1m"})
}

func testSettingsVerbatim(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	want := map[string]string{
		"empty":   "",
		"spaces":  "  two  words ",
		"unicode": "Zürich ✓",
		"quotes":  `"quoted" 'and' \back\slashed`,
		"lines":   "one\ntwo",
	}
	mustSet(t, s, want, nil)
	s = reopenSettings(t, s, open)
	wantSettings(t, s, want)
}

func testSettingsConcurrent(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	const n = 16
	want := make(map[string]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		k, v := fmt.Sprintf("key%02d", i), fmt.Sprint(i)
		want[k] = v
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.SetSettings(context.Background(), map[string]string{k: v}, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SetSettings %d: %v", i, err)
		}
	}
	s = reopenSettings(t, s, open)
	wantSettings(t, s, want)
}

// testSettingsLarge stores a value as large as a policy may be (the policy
// file is kept among the settings) and replaces it with a small one.
func testSettingsLarge(t *testing.T, open func() SettingsStore) {
	s := openSettings(t, open)
	var b strings.Builder
	for i := 0; b.Len() < 256<<10; i++ {
		fmt.Fprintf(&b, "[feature.f%d]\nmax = { \"user:*\" = %d }\n", i, i%7)
	}
	big := map[string]string{"policy": b.String(), "policy_source": "api"}
	mustSet(t, s, big, nil)
	s = reopenSettings(t, s, open)
	wantSettings(t, s, big)
	mustSet(t, s, map[string]string{"policy": "[feature.cad]\n"}, nil)
	wantSettings(t, s, map[string]string{"policy": "[feature.cad]\n", "policy_source": "api"})
}
