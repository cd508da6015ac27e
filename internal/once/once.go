// Package once runs a step at most once per process for every caller that
// needs its result: loading the vulnerability database, the Java database,
// the exploitation feeds.
package once

import "context"

// Value runs its step at most once, one caller at a time; a caller whose
// context ends while waiting gives up. A result is kept (an error too),
// except one cut short by the caller's context, so the next caller tries
// again. The zero Value is not usable: use New.
type Value[T any] struct {
	sem  chan struct{}
	done bool
	val  T
	err  error
}

// New returns a Value whose step has not run.
func New[T any]() *Value[T] { return &Value[T]{sem: make(chan struct{}, 1)} }

// Get returns the step's result, running it if no caller has.
func (o *Value[T]) Get(ctx context.Context, run func(context.Context) (T, error)) (T, error) {
	var zero T
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	defer func() { <-o.sem }()
	if !o.done {
		v, err := run(ctx)
		if err != nil && ctx.Err() != nil {
			return zero, err
		}
		o.done, o.val, o.err = true, v, err
	}
	if o.err != nil {
		return zero, o.err
	}
	return o.val, nil
}
