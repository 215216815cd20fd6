package redisx

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keepalive watches a pub/sub connection whose Receive blocks and so
// watches nothing: it sends a PING every period and closes the
// subscription when ctx ends or when nothing (no message, confirmation or
// PONG) was heard for deadAfter, so that Receive fails and its owner
// knows. Its goroutine is owned by the caller: Stop ends it.
type Keepalive struct {
	heard   atomic.Int64 // unix ns of the last reply
	done    chan struct{}
	stopped chan struct{}
}

// StartKeepalive starts watching ps; onDead runs (once) when the server
// stopped answering, before ps is closed.
func StartKeepalive(ctx context.Context, ps *redis.PubSub, every, deadAfter time.Duration, onDead func()) *Keepalive {
	k := &Keepalive{done: make(chan struct{}), stopped: make(chan struct{})}
	k.Heard()
	go func() {
		defer close(k.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				_ = ps.Close()
				return
			case <-k.done:
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, k.heard.Load())) > deadAfter {
				onDead()
				_ = ps.Close()
				return
			}
			pctx, cancel := context.WithTimeout(ctx, every)
			_ = ps.Ping(pctx, "keepalive")
			cancel()
		}
	}()
	return k
}

// Heard records that the server answered (call after every Receive).
func (k *Keepalive) Heard() { k.heard.Store(time.Now().UnixNano()) }

// Stop ends the watch and waits for its goroutine.
func (k *Keepalive) Stop() {
	close(k.done)
	<-k.stopped
}
