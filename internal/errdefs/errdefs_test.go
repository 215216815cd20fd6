package errdefs_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/errdefs"
)

func TestKindOf(t *testing.T) {
	conflict := errdefs.Conflict("lock-held", "held")
	for _, tc := range []struct {
		name string
		err  error
		want errdefs.Kind
	}{
		{"invalid", errdefs.Invalid("ttl", "too long"), errdefs.KindInvalid},
		{"wrapped not found", fmt.Errorf("loading: %w", errdefs.NotFound("no %s", "x")), errdefs.KindNotFound},
		{"sentinel conflict", fmt.Errorf("op: %w", conflict), errdefs.KindConflict},
		{"typed unavailable", errdefs.Unavailable("The queue", errors.New("x")), errdefs.KindUnavailable},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), errdefs.KindUnavailable},
		{"net error", &net.OpError{Op: "dial", Err: errors.New("refused")}, errdefs.KindUnavailable},
		{"pool timeout", redis.ErrPoolTimeout, errdefs.KindUnavailable},
		{"cluster down", errors.New("CLUSTERDOWN The cluster is down"), errdefs.KindUnavailable},
		{"pgx connect", errors.New("failed to connect to `host=127.0.0.1`: dial error"), errdefs.KindUnavailable},
		{"command error", errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"), errdefs.KindInternal},
		{"invalid wrapping a net error", &errdefs.Error{Kind: errdefs.KindInvalid, Err: &net.OpError{}}, errdefs.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errdefs.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
			if got := errdefs.IsUnavailable(tc.err); got != (tc.want == errdefs.KindUnavailable) {
				t.Errorf("IsUnavailable(%v) = %v", tc.err, got)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", conflict), conflict) {
		t.Error("a wrapped sentinel is not errors.Is itself")
	}
}

func TestErrorText(t *testing.T) {
	e := errdefs.InvalidFields(map[string]string{"b": "bad", "a": "worse"})
	if got := e.Error(); got != "The request has invalid fields. a: worse; b: bad" {
		t.Errorf("Error() = %q", got)
	}
}
