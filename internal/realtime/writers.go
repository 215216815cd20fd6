package realtime

import (
	"context"
	"runtime"
	"sync"

	"github.com/gorilla/websocket"
)

// The write workers: a few goroutines (one per CPU) that the hub owns, and
// that write the frames the fan-out queues. A delivery used to start a
// goroutine for its socket; with 1,000 members per message that was 1,000
// goroutines made, scheduled and torn down, plus a deadline timer set and
// two slices allocated each time, beside the one write(2) that is the real
// work. A worker instead writes a socket's one queued frame with a single
// non-blocking writev of whatever the socket has queued: no goroutine,
// timer or allocation. A socket that does not take it all at once (its
// client reads slowly) gets its own writer goroutine as before (conn.go's
// writeLoop), which waits on the socket under the write deadline, so slow
// clients never hold up a worker; the queue bound is enforced on queueing
// as before.
//
// A fan-out hands its sockets over in chunks, after its loop over the
// room's members, not one by one: a channel send per member readied a
// worker per member, queued to run next on the fan-out's own processor,
// and a runtime trace of an instance fanning 100 msgs/s out to 500 members
// showed 1.1 s of 5 of goroutines runnable but not running at that
// hand-over — workers waiting for the loop and the loop for the workers
// (docs/benchmarks.md).

// readyQueue bounds the chunks waiting for a worker; past it a chunk's
// sockets write with goroutines of their own, so the fan-out never waits.
const readyQueue = 1024

// chunkSize is the most sockets one hand-over gives a worker: small enough
// that the workers share a fan-out evenly, large enough that a fan-out to
// 1,000 members is a few channel sends, not 1,000.
const chunkSize = 64

// writeBatch collects the sockets one fan-out made ready to write.
type writeBatch struct{ conns []*Conn }

// writeWorkers is how many workers the hub runs: the CPUs Go may use.
func writeWorkers() int { return runtime.GOMAXPROCS(0) }

// runWriters runs the write workers until ctx is done. The sockets still
// waiting then get writer goroutines of their own, so none is left with
// frames nobody writes.
func (h *Hub) runWriters(ctx context.Context) {
	var wg sync.WaitGroup
	h.writersMu.Lock()
	h.writersOn = true
	h.writersMu.Unlock()
	for range writeWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dw := newDirectWriter()
			for {
				select {
				case <-ctx.Done():
					return
				case cs := <-h.ready:
					for _, c := range cs {
						c.writeReady(dw)
						h.handlers.Done()
					}
				}
			}
		}()
	}
	wg.Wait()
	// No scheduleWrite is between its check and its send once the lock
	// is held, so the drain below finds every socket handed over.
	h.writersMu.Lock()
	h.writersOn = false
	h.writersMu.Unlock()
	for {
		select {
		case cs := <-h.ready:
			for _, c := range cs {
				c.mu.Lock()
				c.startWriterLocked()
				c.mu.Unlock()
				h.handlers.Done()
			}
		default:
			return
		}
	}
}

// scheduleWrite hands c, whose queue just stopped being empty (c.writing
// is set, under c.mu), to a worker, or to a goroutine of its own when it
// cannot take direct writes or the workers are not running or behind.
func (h *Hub) scheduleWrite(c *Conn) {
	if c.raw != nil && h.handOver([]*Conn{c}) {
		return
	}
	c.startWriterLocked()
}

// handOverBatch gives the sockets of b (each with c.writing set by the
// fan-out, and direct writes possible) to the workers in chunks, or to
// writer goroutines of their own when the workers are not running or
// behind, and empties b for reuse.
func (h *Hub) handOverBatch(b *writeBatch) {
	for cs := b.conns; len(cs) > 0; {
		n := min(len(cs), chunkSize)
		chunk := append([]*Conn(nil), cs[:n]...) // b is reused: the worker gets its own
		cs = cs[n:]
		if h.handOver(chunk) {
			continue
		}
		for _, c := range chunk {
			c.mu.Lock()
			c.startWriterLocked()
			c.mu.Unlock()
		}
	}
	clear(b.conns)
	b.conns = b.conns[:0]
}

// handOver queues cs for a worker, false when the workers are not running
// or all behind.
func (h *Hub) handOver(cs []*Conn) bool {
	h.writersMu.RLock()
	defer h.writersMu.RUnlock()
	if !h.writersOn {
		return false
	}
	// Counted like writer goroutines until the worker is done with each,
	// so Shutdown waits for them; the sockets' handlers hold the count
	// above zero here, as for startWriterLocked.
	h.handlers.Add(len(cs))
	select {
	case h.ready <- cs:
		return true
	default:
		h.handlers.Add(-len(cs))
		return false
	}
}

// writeReady is a worker's turn at c: everything queued is written with
// one non-blocking writev; what the socket does not take at once (its
// client reads slowly), or a queue too long for one call, or a passed
// deadline, goes to c's own writer goroutine.
func (c *Conn) writeReady(dw *directWriter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.queue) == 0: // closed meanwhile: its queue was dropped
		c.writing = false
		c.idle.fire()
		return
	case len(c.queue) > maxDirectFrames:
		c.startWriterLocked()
		return
	}
	for _, it := range c.queue {
		dw.add(it.bytes())
	}
	// The lock is held across the writev: it never blocks, and whoever
	// queues to c meanwhile would only wait for the same socket.
	n, ok, err := dw.write(c.raw)
	switch {
	case !ok:
		c.startWriterLocked() // a deadline passed or the socket is closing: the writer finds out
		return
	case err != nil:
		c.h.metrics.dropped.WithLabelValues("write_error").Add(float64(len(c.queue)))
		c.closeLocked(websocket.CloseAbnormalClosure, "")
		c.writing = false
		c.idle.fire()
		return
	}
	done := 0
	for ; done < len(c.queue); done++ {
		b := c.queue[done].bytes()
		if n < len(b) {
			break
		}
		n -= len(b)
	}
	c.recordDelivered(c.queue[:done])
	if done < len(c.queue) {
		c.dropWrittenLocked(done, n)
		c.startWriterLocked()
		return
	}
	clear(c.queue)
	c.queue = c.queue[:0] // kept for the next frame: one allocation per socket, not per frame
	c.control = [2]int{}
	c.drained.fire()
	c.writing = false
	c.idle.fire()
}

// dropWrittenLocked removes the first done frames from the queue, and the
// first partial bytes of the next one, which the socket took.
func (c *Conn) dropWrittenLocked(done, partial int) {
	clear(c.queue[:done])
	c.queue = c.queue[done:]
	for k, i := range c.control {
		if i > done {
			c.control[k] = i - done
		} else {
			c.control[k] = 0
		}
	}
	if partial > 0 {
		head := &c.queue[0]
		head.frame = head.bytes()[partial:]
		if head.ctrl != ctrlNone {
			// Begun on the wire: a newer control frame must not replace it.
			c.control[head.ctrl-1] = 0
		}
	}
	c.drained.fire()
}
