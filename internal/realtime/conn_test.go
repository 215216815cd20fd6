package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// serverSocket returns the server side of a real WebSocket connection.
func serverSocket(t *testing.T) *websocket.Conn {
	ws, _ := socketPair(t)
	return ws
}

// socketPair returns both sides of a real WebSocket connection over
// loopback TCP: the server's and the client's.
func socketPair(t *testing.T) (server, client *websocket.Conn) {
	t.Helper()
	got := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- ws
	}))
	t.Cleanup(srv.Close)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ws := <-got
	t.Cleanup(func() { ws.Close() })
	return ws, c
}

// While the writer is busy (a client that does not read), pongs answering
// a ping flood take one place in the queue, the latest replacing the one
// waiting, and count against its bound like any frame.
func TestPongsCoalesceAndCountAgainstTheQueue(t *testing.T) {
	h := &Hub{metrics: newMetrics(prometheus.NewRegistry())}
	pong := func(data string) item { return item{frame: encodeFrame(opPong, []byte(data)), ctrl: ctrlPong} }

	c := &Conn{h: h, ws: serverSocket(t), queueCap: 4, writing: true} // writing: the writer is stuck
	c.mu.Lock()
	c.pushLocked(item{frame: []byte("m1")})
	for i := 0; i < 100000; i++ {
		c.pushLocked(pong("p"))
	}
	c.pushLocked(pong("last"))
	c.pushLocked(item{frame: pingFrame, ctrl: ctrlPing})
	c.pushLocked(item{frame: pingFrame, ctrl: ctrlPing})
	n, closed, last := len(c.queue), c.closed, string(c.queue[1].frame[2:])
	c.mu.Unlock()
	if n != 3 || closed || last != "last" {
		t.Fatalf("after 100,001 pongs and 2 pings: %d queued (want 3: the message, one pong, one ping), closed %v, pong %q (want the latest)", n, closed, last)
	}

	c = &Conn{h: h, ws: serverSocket(t), queueCap: 2, writing: true}
	c.mu.Lock()
	c.pushLocked(item{frame: []byte("m1")})
	c.pushLocked(item{frame: []byte("m2")})
	c.pushLocked(pong("p")) // the queue is full: a pong is one frame too many
	closed, code := c.closed, c.closeCode
	c.mu.Unlock()
	if !closed || code != CloseSlowConsumer {
		t.Fatalf("pong to a full queue: closed %v with %d, want closed with %d", closed, code, CloseSlowConsumer)
	}
}

// The write workers write a frame straight to the socket while it takes
// it, and hand the socket to a writer goroutine of its own once it does not
// (a client that stops reading): a frame the socket took only in part is
// finished by the writer, and the client gets every frame whole and in
// order. Afterwards the workers write directly again.
func TestDirectWritesFallBackToTheWriterInOrder(t *testing.T) {
	h := &Hub{metrics: newMetrics(prometheus.NewRegistry()), ready: make(chan []*Conn, readyQueue)}
	ctx, cancel := context.WithCancel(context.Background())
	workers := make(chan struct{})
	go func() { defer close(workers); h.runWriters(ctx) }()
	defer func() { cancel(); <-workers }()
	for on := false; !on; time.Sleep(time.Millisecond) {
		h.writersMu.RLock()
		on = h.writersOn
		h.writersMu.RUnlock()
	}
	ws, client := socketPair(t)
	c := &Conn{h: h, ws: ws, raw: rawConn(ws.NetConn()), queueCap: 100000, writeWait: 10 * time.Second}
	if c.raw == nil {
		t.Skip("no direct writes on this platform")
	}

	const n = 2000 // 2000 frames of ~9 KiB: far more than loopback buffers hold
	pad := strings.Repeat("x", 9000)
	for i := 0; i < n; i++ {
		e, err := newEnvelope("r", fmt.Sprintf("%d-0", i+1), "", 0, fmt.Sprintf(`{"text":"%d %s"}`, i, pad))
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.pushLocked(item{env: e})
		c.mu.Unlock()
	}
	for i := 0; i < n; i++ {
		_, data, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil || m.ID != fmt.Sprintf("%d-0", i+1) || !strings.HasPrefix(m.Text, fmt.Sprintf("%d ", i)) || len(m.Text) != len(fmt.Sprint(i))+1+len(pad) {
			t.Fatalf("frame %d: id %q, %d bytes of text, err %v", i, m.ID, len(m.Text), err)
		}
	}
	if !c.waitWriterIdle(5 * time.Second) {
		t.Fatal("writer still running after the client read everything")
	}
	// Idle again: the next frame is a worker's direct write, past the
	// writer's (cleared) deadline. A worker keeps the queue's array for
	// the next frame; a writer goroutine drops it.
	e, _ := newEnvelope("r", "99999-0", "", 0, `{"text":"after"}`)
	c.mu.Lock()
	c.pushLocked(item{env: e})
	c.mu.Unlock()
	if _, data, err := client.ReadMessage(); err != nil || !strings.Contains(string(data), `"after"`) {
		t.Fatalf("last frame: %s, %v", data, err)
	}
	if !c.waitWriterIdle(5 * time.Second) {
		t.Fatal("not idle after the last frame")
	}
	c.mu.Lock()
	direct := c.queue != nil
	c.mu.Unlock()
	if !direct {
		t.Fatal("a frame to an idle socket that keeps up went through a writer goroutine, not a worker's direct write")
	}
}
