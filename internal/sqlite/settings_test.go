package sqlite_test

import (
	"context"
	"testing"

	"github.com/usher-lm/usher/internal/sqlite"
)

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SetSettings(ctx, map[string]string{"a": "1", "b": "2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSettings(ctx, map[string]string{"a": "3"}, []string{"b", "missing"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["a"] != "3" {
		t.Errorf("got %v, want only a=3", got)
	}
}
