package groupcommit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usher-lm/usher/internal/groupcommit"
	"github.com/usher-lm/usher/internal/ushertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kv is a store whose commits can be held: while held, every commit
// waits, so that the changes submitted meanwhile queue up.
type kv struct {
	mu      sync.Mutex
	data    map[string]int
	batches [][]change
	hold    chan struct{} // closed to let commits through
	entered chan struct{} // receives when a commit starts
}

// change sets key to val; a negative val makes the whole batch fail.
type change struct {
	key  string
	val  int
	size int
}

var errBad = errors.New("bad change")

func newKV() *kv {
	return &kv{data: make(map[string]int), hold: make(chan struct{}), entered: make(chan struct{}, 1024)}
}

func (s *kv) commit(batch []change) error {
	s.entered <- struct{}{}
	<-s.hold
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, append([]change(nil), batch...))
	for _, c := range batch {
		if c.val < 0 {
			return errBad
		}
	}
	for _, c := range batch {
		s.data[c.key] = c.val
	}
	return nil
}

// waitQueued polls until n goroutines wait in Submit to hand over their
// change, parked in its select: a goroutine merely inside Submit may not
// have reached the select yet, and the worker, filling its next batch
// without waiting, would then leave its change for a later batch.
func waitQueued(t *testing.T, n int) {
	t.Helper()
	ushertest.WaitFor(t, 10*time.Second, time.Millisecond, func() error {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		got := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "groupcommit.(*Batcher[...]).Submit") {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("got %d goroutines queued in Submit, want %d", got, n)
		}
		return nil
	})
}

// submitAll submits changes concurrently, the first one alone so that its
// commit holds the worker, and returns each outcome once all are done.
func submitAll(t *testing.T, b *groupcommit.Batcher[change], s *kv, changes []change) []error {
	t.Helper()
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i, c := range changes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.Submit(context.Background(), c) }()
		if i == 0 {
			<-s.entered
		}
	}
	waitQueued(t, len(changes)-1)
	close(s.hold)
	wg.Wait()
	return errs
}

func TestConcurrentSubmittersShareCommits(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit})
	defer b.Close()
	var changes []change
	for i := range 50 {
		changes = append(changes, change{key: string(rune('a' + i)), val: i})
	}
	for i, err := range submitAll(t, b, s, changes) {
		if err != nil {
			t.Errorf("change %d: got %v, want nil", i, err)
		}
	}
	if got, want := len(s.batches), 2; got != want {
		t.Fatalf("got %d commits, want %d (the first change, then the 49 queued behind it)", got, want)
	}
	if got, want := len(s.data), 50; got != want {
		t.Errorf("got %d keys stored, want %d", got, want)
	}
}

func TestMaxSizeBoundsBatches(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{
		Commit: s.commit, MaxSize: 4, Size: func(c change) int { return c.size },
	})
	defer b.Close()
	changes := []change{{key: "first", size: 1}}
	for i := range 10 {
		changes = append(changes, change{key: string(rune('a' + i)), size: 1 + i%2})
	}
	changes = append(changes, change{key: "huge", size: 9})
	submitAll(t, b, s, changes)
	n := 0
	for _, batch := range s.batches {
		size := 0
		for _, c := range batch {
			size += c.size
		}
		if size > 4 && len(batch) > 1 {
			t.Errorf("got a batch of size %d (%v), want at most 4 unless a change is alone", size, batch)
		}
		n += len(batch)
	}
	if n != len(changes) {
		t.Errorf("got %d changes committed, want %d", n, len(changes))
	}
}

func TestFailedCommitFailsEveryCallerAndChangesNothing(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit})
	defer b.Close()
	changes := []change{{key: "first", val: 1}, {key: "a", val: 1}, {key: "bad", val: -1}, {key: "b", val: 2}}
	errs := submitAll(t, b, s, changes)
	if errs[0] != nil {
		t.Errorf("first change: got %v, want nil (committed alone)", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, errBad) {
			t.Errorf("change %d: got %v, want %v", i+1, err, errBad)
		}
	}
	if len(s.data) != 1 || s.data["first"] != 1 {
		t.Errorf("got stored %v, want only first=1", s.data)
	}
}

func TestCloseWaitsForTheBatchInFlight(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit})
	errc := make(chan error, 1)
	go func() { errc <- b.Submit(context.Background(), change{key: "a", val: 1}) }()
	<-s.entered
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	close(s.hold)
	<-closed
	if err := <-errc; err != nil {
		t.Fatalf("change in flight at Close: got %v, want nil", err)
	}
	if err := b.Submit(context.Background(), change{key: "b"}); !errors.Is(err, groupcommit.ErrClosed) {
		t.Fatalf("Submit after Close: got %v, want %v", err, groupcommit.ErrClosed)
	}
	b.Close() // a second Close must not panic or block
}

func TestSubmitEndsWithItsContextWhileQueueing(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit})
	defer b.Close()
	defer close(s.hold)
	go b.Submit(context.Background(), change{key: "a"})
	<-s.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Submit(ctx, change{key: "b"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want %v", err, context.Canceled)
	}
}

func TestWorkersCommitConcurrently(t *testing.T) {
	s := newKV()
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit, Workers: 3})
	defer b.Close()
	errc := make(chan error, 3)
	for i := range 3 {
		go func() { errc <- b.Submit(context.Background(), change{key: string(rune('a' + i))}) }()
		<-s.entered // each commit starts while the others are held
	}
	close(s.hold)
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestBatchesAreLogged(t *testing.T) {
	var buf bytes.Buffer // written before each Submit returns
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newKV()
	close(s.hold)
	b := groupcommit.New(groupcommit.Options[change]{Commit: s.commit, Name: "kv", Logger: logger})
	defer b.Close()
	ctx := context.Background()
	if err := b.Submit(ctx, change{key: "a", val: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(ctx, change{key: "bad", val: -1}); !errors.Is(err, errBad) {
		t.Fatalf("got %v, want %v", err, errBad)
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="store batch committed" store=kv changes=1 duration=`,
		`level=ERROR msg="store batch failed" store=kv changes=1 duration=`,
		`err="bad change"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q; got:\n%s", want, out)
		}
	}
}
