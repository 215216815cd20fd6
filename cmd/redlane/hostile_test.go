package main

import (
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/redistest"
)

// The tests in this file are attacks a hostile client made on a real server
// (issue 21), kept so that each bound stays in place: each one runs the
// attack against a `redlane serve` process and measures that process.

// rawDialer opens sockets with a tiny receive buffer, so a client that never
// reads backs the server's writes up at once.
func rawDialer() *websocket.Dialer {
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	return &websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: small.DialContext}
}

// TestHostilePingFlood: an anonymous socket that never reads and sends
// 125-byte pings back to back grew the server by 400 MB in 4 s, each pong
// queued past the send-queue bound while the writer was blocked. Pongs now
// coalesce (one waits at most) and count against the bound, and the writer's
// deadline closes the socket.
func TestHostilePingFlood(t *testing.T) {
	rs := redistest.Start(t)
	// The defaults: a 10 s write deadline, 256 frames per queue.
	p := startProcess(t, map[string]string{"REDIS_URL": rs.URL()}, "")
	before := p.memory()

	ws, _, err := rawDialer().Dial("ws"+strings.TrimPrefix(p.URL, "http")+"/ws/chat/flood", http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	payload := []byte(strings.Repeat("p", 125))
	start := time.Now()
	var pings int
	var peak memory
	closed := false
	for time.Since(start) < 30*time.Second {
		if err := ws.WriteControl(websocket.PingMessage, payload, time.Now().Add(10*time.Second)); err != nil {
			closed = true
			break
		}
		if pings++; pings%2000 == 0 {
			if m := p.memory(); m.RSS > peak.RSS {
				peak = m
			}
		}
	}
	elapsed := time.Since(start)
	after := p.memory()
	t.Logf("%d pings in %s; server before %s, highest seen during the flood %s, after %s", pings, elapsed.Round(time.Millisecond), before, peak, after)
	if closed && elapsed > 20*time.Second {
		t.Errorf("the socket was closed only after %s, want within the 10 s write deadline and a little", elapsed.Round(time.Millisecond))
	}
	if !closed {
		t.Errorf("the socket was still open after %s of flooding (writeTimeout 10s)", elapsed.Round(time.Millisecond))
	}
	if grew := after.Peak - before.RSS; grew > 40 {
		t.Errorf("server's peak resident set grew by %.0f MiB during the flood, want under 40", grew)
	}
	// The server still serves.
	if r := p.do("GET", "/readyz", ""); r.Status != 200 {
		t.Errorf("GET /readyz = %d after the flood", r.Status)
	}
}
