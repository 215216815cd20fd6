package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/store"
)

// ErrBusy says every password check slot stayed taken for
// spec.sessions.passwordChecks.maxWait; the login is answered 503.
var ErrBusy = errors.New("too many password checks in progress")

// checkGate bounds the password checks running at once. An argon2id check
// holds its memory cost (19 MiB by default) until it ends, so 30 parallel
// logins with wrong passwords used to take 600 MB; the gate lets
// memoryBudgetMiB / hash MiB of them run and the rest wait their turn, up
// to maxWait. Known and unknown users pass through it alike, so waiting
// tells nothing about whether a username exists. The bound is read on each
// check, so it reloads live.
type checkGate struct {
	mu     sync.Mutex
	inUse  int
	freed  chan struct{} // closed and replaced when a slot is freed
	hashKB uint32        // memory of one check (the default hash cost)
}

func newCheckGate() *checkGate {
	return &checkGate{hashKB: store.DefaultHashParams.MemoryKiB}
}

// slots is how many checks pc lets run at once (at least one).
func (g *checkGate) slots(pc config.PasswordChecks) int {
	return max(1, pc.MemoryBudgetMiB*1024/int(g.hashKB))
}

// acquire waits for a slot for up to pc.MaxWait; it returns ErrBusy when
// none came, or the context's error.
func (g *checkGate) acquire(ctx context.Context, pc config.PasswordChecks) error {
	var timeout <-chan time.Time
	for {
		g.mu.Lock()
		if g.inUse < g.slots(pc) {
			g.inUse++
			g.mu.Unlock()
			return nil
		}
		if g.freed == nil {
			g.freed = make(chan struct{})
		}
		freed := g.freed
		g.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(pc.MaxWait.Duration)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees a slot taken by acquire.
func (g *checkGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inUse--
	if g.freed != nil {
		close(g.freed)
		g.freed = nil
	}
}

// running is the number of checks in progress.
func (g *checkGate) running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inUse
}
