package realtime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// serverSocket returns the server side of a real WebSocket connection.
func serverSocket(t *testing.T) *websocket.Conn {
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
	return ws
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
