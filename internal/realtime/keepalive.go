package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// keepalive pings every socket each pingInterval from one goroutine, and
// drops sockets that stayed silent (no frame, no pong) for longer than
// pingInterval+pongTimeout, so an idle socket needs no timer of its own.
func (h *Hub) keepalive(ctx context.Context) {
	for {
		rt := h.cfg.Current().Spec.Realtime
		select {
		case <-ctx.Done():
			return
		case <-time.After(rt.PingInterval.Duration):
		}
		h.mu.Lock()
		conns := make([]*Conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		now := time.Now()
		limit := rt.PingInterval.Duration + rt.PongTimeout.Duration
		work := make(chan *Conn)
		var wg sync.WaitGroup
		for i := 0; i < pingWorkers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range work {
					c.pingNow()
				}
			}()
		}
		for _, c := range conns {
			// An SSE client never writes: its stream ends when a write
			// fails or the request's connection closes.
			if c.sse == nil && c.silentFor(now) > limit {
				c.closeWith(0, "") // the peer is gone; no close frame will reach it
				continue
			}
			work <- c
		}
		close(work)
		wg.Wait()
	}
}

// pingWorkers bounds the goroutines (and stacks) a keepalive sweep uses.
const pingWorkers = 16

// pingNow writes a ping on the caller's goroutine when no writer is
// running (the keepalive sweep's workers), so pinging every idle socket
// does not start a goroutine, and grow a stack, per socket.
func (c *Conn) pingNow() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.writing {
		c.pushLocked(item{frame: pingFrame, ctrl: ctrlPing})
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	err := c.writeBatch([]item{{frame: pingFrame, ctrl: ctrlPing}}, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = false
	c.idle.fire()
	switch {
	case err != nil:
		c.closeLocked(websocket.CloseAbnormalClosure, "")
	case len(c.queue) > 0 && !c.closed:
		c.startWriterLocked()
	}
}

// touch stamps the time the client was last heard from (any frame or pong).
func (c *Conn) touch() { c.lastHeard.Store(time.Now().UnixNano()) }

// silentFor reports how long the client has sent nothing, not even a pong.
func (c *Conn) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.lastHeard.Load()))
}
