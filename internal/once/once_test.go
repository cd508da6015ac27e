package once

import (
	"context"
	"errors"
	"testing"
)

func TestValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := New[int]()
	runs := 0
	run := func(context.Context) (int, error) { runs++; return 7, nil }
	for range 3 {
		if got, err := v.Get(ctx, run); got != 7 || err != nil {
			t.Fatalf("Get = %d, %v; want 7, nil", got, err)
		}
	}
	if runs != 1 {
		t.Fatalf("the step ran %d times, want once", runs)
	}
}

// An error is kept (the step is not retried by every caller of a plan),
// except one cut short by the caller's context: the next caller tries again.
func TestValueErrors(t *testing.T) {
	t.Parallel()
	failed := errors.New("registry down")
	v := New[int]()
	runs := 0
	fail := func(context.Context) (int, error) { runs++; return 1, failed }
	for range 2 {
		if got, err := v.Get(context.Background(), fail); got != 0 || !errors.Is(err, failed) {
			t.Fatalf("Get = %d, %v; want 0 and the step's error", got, err)
		}
	}
	if runs != 1 {
		t.Fatalf("a failed step ran %d times, want once (its error is kept)", runs)
	}

	// A step cut short by its caller's context is not kept: the next caller
	// runs it again.
	w := New[int]()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := w.Get(ctx, func(ctx context.Context) (int, error) { cancel(); return 0, ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("a step cut short = %v, want context.Canceled", err)
	}
	if got, err := w.Get(context.Background(), func(context.Context) (int, error) { return 5, nil }); got != 5 || err != nil {
		t.Fatalf("after a cut-short step Get = %d, %v; want the step run again (5, nil)", got, err)
	}
}
