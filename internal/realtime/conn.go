package realtime

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/telemetry"
	"github.com/redlane/redlane/internal/web"
)

// Conn is one client socket. Its handler goroutine reads. Writes go through
// a bounded queue: the hub's write workers (writers.go) write a socket's
// frame straight away, without blocking, while it keeps up; a socket that
// does not take it at once gets a writer goroutine of its own, which exists
// only while there is something to write. So an idle socket costs one
// goroutine, and a delivery to a socket that keeps up costs no goroutine.
type Conn struct {
	h         *Hub
	ws        *websocket.Conn // the client's socket, or nil for an SSE stream
	raw       syscall.RawConn // ws's descriptor for direct writes, nil when it has none
	sse       *sseStream      // the client's event stream (sse.go), or nil for a WebSocket
	id        string
	sender    string
	principal *web.Principal // the authenticated user, nil when anonymous; room policies judge it
	subject   string         // whom the per-sender publish rate counts (publishrate.go)
	bucket    bucket         // the per-connection publish rate, used by the reader only
	primary   string         // the URL's room, target of plain-text frames
	queueCap  int
	writeWait time.Duration

	lastHeard atomic.Int64 // unix ns of the last frame or pong from the client

	mu        sync.Mutex
	queue     []item
	control   [2]int // index+1 in queue of the pending keepalive ping and pong, 0 if none
	writing   bool
	closed    bool
	closeCode int
	closeText string
	drained   signal // fired when the writer takes the queue
	idle      signal // fired when the writer stops
	rooms     map[string]*member
	tokens    map[string]string // room tokens the client joined with, by room (guarded by mu)
}

// member is a socket's membership of one room, guarded by Conn.mu.
type member struct {
	room       string
	recovering bool        // replaying history: live messages wait in pending
	pending    []*envelope // live messages that arrived while recovering
	last       streamID    // newest message delivered: older or equal ones are dropped
	fromNow    bool        // joined without since: starts at the room's newest message
}

// item is one queued frame: a room message (shared, encoded once) or a
// frame for this socket alone. A room message that was written in part
// holds the rest in frame.
type item struct {
	env   *envelope
	frame []byte
	ctrl  control
}

// control marks the control frames the server sends on its own: at most one
// of each kind waits in a queue, so a client cannot grow the queue with them.
type control int

const (
	ctrlNone control = iota
	ctrlPing         // the keepalive sweep's ping
	ctrlPong         // the answer to a client's ping
)

func (it item) bytes() []byte {
	if it.frame != nil {
		return it.frame
	}
	return it.env.frame
}

// send queues a control frame (joined, ack, error...) to the client.
func (c *Conn) send(v any) {
	c.sendFrame(encodeFrame(opText, mustJSON(v)))
}

// sendFrame queues an encoded frame, which may be shared with other sockets.
func (c *Conn) sendFrame(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pushLocked(item{frame: frame})
}

// deliverResult is what deliver did with a message (for the fan-out span).
type deliverResult int

const (
	delivSkipped  deliverResult = iota // closed, left the room, or not newer
	delivQueued                        // queued for the socket's writer
	delivBuffered                      // held until the history replay ends
	delivDropped                       // the queue was full: closed as a slow consumer
)

// deliver hands a room message to the socket: buffered while the membership
// is still replaying history, dropped if not newer than what it has.
func (c *Conn) deliver(m *member, e *envelope, live bool, b *writeBatch) deliverResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.rooms[m.room] != m {
		return delivSkipped
	}
	if m.recovering && live {
		if len(m.pending) >= c.queueCap {
			c.slowLocked()
			return delivDropped
		}
		m.pending = append(m.pending, e)
		return delivBuffered
	}
	if !m.last.less(e.id) {
		return delivSkipped
	}
	m.last = e.id
	return c.pushTo(item{env: e}, b)
}

// finishRecovery switches a membership to live: the joined frame, then
// every buffered live message newer than what history delivered.
func (c *Conn) finishRecovery(m *member, joined joinedFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.last.isZero() {
		joined.LastID = ""
	} else {
		joined.LastID = m.last.String()
	}
	c.pushLocked(item{frame: encodeFrame(opText, mustJSON(joined))})
	m.recovering = false
	pending := m.pending
	m.pending = nil
	for _, e := range pending {
		if m.last.less(e.id) {
			m.last = e.id
			c.pushLocked(item{env: e})
		}
	}
}

// pushLocked queues it and reports delivQueued, or delivDropped when the
// full queue closed the socket (delivSkipped when it was closed already).
func (c *Conn) pushLocked(it item) deliverResult { return c.pushTo(it, nil) }

// pushTo is pushLocked for a fan-out: a socket it makes ready to write
// joins b, which the fan-out hands to the write workers after its loop
// (nil: handed over at once).
func (c *Conn) pushTo(it item, b *writeBatch) deliverResult {
	if c.closed {
		return delivSkipped
	}
	if it.ctrl != ctrlNone {
		// A control frame still waiting is replaced, not joined: a client
		// that floods pings while it reads nothing gets one pong (the
		// answer to its latest ping, as RFC 6455 allows), not a queue
		// that grows with every ping.
		if i := c.control[it.ctrl-1]; i > 0 {
			c.queue[i-1] = it
			return delivQueued
		}
	}
	// Pongs count against the queue's bound like any frame; only the
	// keepalive's own ping may go past it (it is at most one).
	if len(c.queue) >= c.queueCap && it.ctrl != ctrlPing {
		c.slowLocked()
		return delivDropped
	}
	c.queue = append(c.queue, it)
	if it.ctrl != ctrlNone {
		c.control[it.ctrl-1] = len(c.queue)
	}
	if !c.writing {
		c.writing = true
		if b != nil && c.raw != nil {
			b.conns = append(b.conns, c)
		} else {
			c.h.scheduleWrite(c)
		}
	}
	return delivQueued
}

// takeQueueLocked empties the queue, returning what was in it.
func (c *Conn) takeQueueLocked() []item {
	q := c.queue
	c.queue = nil
	c.control = [2]int{}
	return q
}

// startWriterLocked gives the socket a writer goroutine of its own, which
// drains the queue with blocking writes under the write deadline.
func (c *Conn) startWriterLocked() {
	c.writing = true
	c.h.handlers.Add(1) // the socket's handler holds the count above zero here
	go func() {
		defer c.h.handlers.Done()
		c.writeLoop()
	}()
}

func (c *Conn) slowLocked() {
	c.h.metrics.slowDisconnects.Inc()
	c.h.metrics.dropped.WithLabelValues("slow_consumer").Add(float64(len(c.queue) + 1))
	c.closeLocked(CloseSlowConsumer, "slow consumer")
}

// waitRoom blocks until the queue is at most half full, so a history
// replay fills the socket as fast as the client reads and no faster.
func (c *Conn) waitRoom(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return errors.New("connection closed")
		}
		if len(c.queue) <= c.queueCap/2 {
			c.mu.Unlock()
			return nil
		}
		ch := c.drained.wait()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Conn) writeLoop() {
	var bufs net.Buffers
	for {
		c.mu.Lock()
		c.drained.fire()
		if len(c.queue) == 0 {
			c.writing = false
			if c.raw != nil {
				// The write workers' direct writes (writers.go) come
				// next: they are refused while a passed deadline is set.
				_ = c.ws.NetConn().SetWriteDeadline(time.Time{})
			}
			c.takeQueueLocked()
			c.idle.fire()
			c.mu.Unlock()
			return
		}
		batch := c.takeQueueLocked()
		c.mu.Unlock()
		if err := c.writeBatch(batch, bufs[:0]); err != nil {
			c.h.metrics.dropped.WithLabelValues("write_error").Add(float64(len(batch)))
			c.mu.Lock()
			c.closeLocked(websocket.CloseAbnormalClosure, "")
			c.writing = false
			c.idle.fire()
			c.mu.Unlock()
			return
		}
	}
}

// writeBatch writes every queued frame with one writev: a socket that fell
// behind catches up in few system calls instead of one per message.
func (c *Conn) writeBatch(batch []item, bufs net.Buffers) error {
	if c.sse != nil {
		if err := c.sse.write(batch, c.writeWait); err != nil {
			return err
		}
	} else {
		for _, it := range batch {
			bufs = append(bufs, it.bytes())
		}
		nc := c.ws.NetConn()
		_ = nc.SetWriteDeadline(time.Now().Add(c.writeWait))
		if _, err := bufs.WriteTo(nc); err != nil {
			return err
		}
	}
	c.recordDelivered(batch)
	return nil
}

// recordDelivered counts the room messages among written frames and
// observes their delivery latency (with the publisher's trace as the
// exemplar when it was sampled).
func (c *Conn) recordDelivered(written []item) {
	now := time.Now().UnixMicro()
	delivered := 0
	for _, it := range written {
		if it.env == nil {
			continue
		}
		delivered++
		if it.env.pubUS > 0 {
			telemetry.Observe(c.h.metrics.latency, float64(now-it.env.pubUS)/1e6, it.env.span)
		}
	}
	if delivered > 0 {
		c.h.metrics.delivered.Add(float64(delivered))
	}
}

// waitWriterIdle waits (up to d) until no writer is running, so the caller
// may write to the socket itself (the final close frame).
func (c *Conn) waitWriterIdle(d time.Duration) bool {
	c.mu.Lock()
	if !c.writing {
		c.mu.Unlock()
		return true
	}
	ch := c.idle.wait()
	c.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// closeWith closes the socket with code (from any goroutine).
func (c *Conn) closeWith(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, text)
}

// closeLocked marks the socket closed and wakes its reader, which sends the
// close frame and tears the socket down; it never blocks the caller (often
// the room's fan-out).
func (c *Conn) closeLocked(code int, text string) {
	if c.closed {
		return
	}
	c.closed, c.closeCode, c.closeText = true, code, text
	switch code {
	case 0, CloseSlowConsumer, websocket.CloseAbnormalClosure:
		c.takeQueueLocked() // nobody will read it
	default:
		// The writer flushes what is queued (an error frame saying why,
		// messages before a shutdown) before the close frame goes out.
	}
	if c.sse != nil {
		c.sse.wake()
		return
	}
	_ = c.ws.NetConn().SetReadDeadline(time.Now())
}

// transport names how the client reads, the label of the connections gauge.
func (c *Conn) transport() string {
	if c.sse != nil {
		return "sse"
	}
	return "ws"
}

func (c *Conn) closeState() (bool, int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.closeCode, c.closeText
}

// signal wakes everyone waiting for an event once; guarded by Conn.mu.
type signal struct{ ch chan struct{} }

func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
