package chaos

import (
	"context"
	"time"
)

// steps runs each step in order and stops at the first error, so a
// scenario's timeline reads as a list.
func steps(fns ...func() error) error {
	for _, fn := range fns {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// wait is a step that sleeps d.
func wait(ctx context.Context, d time.Duration) func() error {
	return func() error { return sleep(ctx, d) }
}

// mark is a step that notes the time in t.
func mark(t *time.Time) func() error {
	return func() error { *t = time.Now(); return nil }
}

// do is a step that cannot fail.
func do(fn func()) func() error {
	return func() error { fn(); return nil }
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
