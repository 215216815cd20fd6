package realtime

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/realtime/access"
	"github.com/redlane/redlane/internal/web"
)

// Server-Sent Events: GET /sse/chat/{room} streams one room to clients that
// cannot open a WebSocket (a proxy that refuses upgrades, a corporate
// network). It is the same connection as a socket's — the same queue, join,
// replay, gap frames, limits and keepalive — read through an event stream
// instead of frames, and it publishes nothing (POST /chat/message does).
// Each message event carries its stream id as the event id, so a browser's
// EventSource reconnects with Last-Event-ID and resumes exactly as a socket
// does with ?since=.

// sseRetry is the reconnect delay the stream asks browsers to wait: short,
// because the resume is exact, and a restarting instance answers soon.
const sseRetry = "retry: 1000\n\n"

// HandleEvents serves GET /sse/chat/{room} as text/event-stream. A
// Last-Event-ID header (sent by EventSource when it reconnects), or else
// ?since=ID, replays every message after that id first.
func (h *Hub) HandleEvents() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		rt := h.cfg.Current().Spec.Realtime
		room := web.Var(r, "room")
		if err := ValidRoom(room); err != nil {
			return web.BadRequest("room", "room "+err.Error())
		}
		since, err := streamSince(r)
		if err != nil {
			return err
		}
		p, err := h.principal(r)
		if err != nil {
			return err
		}
		if !h.originAllowed(r, rt.AllowedOrigins) {
			return web.Errorf(http.StatusForbidden, "origin-not-allowed", "Origin %q may not open chat streams.", r.Header.Get("Origin"))
		}
		token := requestToken(r)
		if err := h.allow(p, room, access.Subscribe, token); err != nil {
			return err
		}
		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no") // nginx: pass events through as they come
		if r.Method == http.MethodHead {
			return nil
		}
		c := h.newConn(r, p, room, rt)
		s := &sseStream{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
		c.sse = s
		if err := h.register(c, rt.MaxConnections); err != nil {
			return errdefs.Unavailable("Chat on this instance ("+err.Error()+")", err)
		}
		defer h.unregister(c)
		// Nothing else writes yet: the writer starts with the first queued frame.
		w.WriteHeader(http.StatusOK)
		_ = s.rc.SetWriteDeadline(time.Now().Add(c.writeWait))
		if _, err := io.WriteString(w, sseRetry); err != nil || s.rc.Flush() != nil {
			return nil
		}
		h.serveStream(r.Context(), c, since, token)
		return nil
	})
}

// streamSince is where a stream resumes: Last-Event-ID, else ?since=, else
// nil (from now on).
func streamSince(r *http.Request) (*streamID, error) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "since", r.URL.Query().Get("since")
	}
	if v == "" {
		return nil, nil
	}
	id, ok := parseID(v)
	if !ok {
		return nil, web.BadRequest(field, field+" must be a message id such as 1700000000000-0")
	}
	return &id, nil
}

// serveStream runs an SSE connection on its request's goroutine until it is
// closed (shutdown, slow consumer, a failed write, a policy change) or the
// client goes away; then it waits for the writer, which must not touch the
// response after the handler returns.
func (h *Hub) serveStream(ctx context.Context, c *Conn, since *streamID, token string) {
	rt := h.cfg.Current().Spec.Realtime
	c.touch()
	c.welcome(rt)
	h.joinPrimary(ctx, c, since, token)
	select {
	case <-c.sse.done:
	case <-ctx.Done():
		c.closeWith(0, "")
	}
	h.leaveAll(c)
	// A write in progress ends by its deadline, and none starts once closed.
	c.waitWriterIdle(c.writeWait + time.Second)
}

// sseStream is a Conn's transport when its client reads an event stream.
type sseStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done chan struct{} // closed when the connection is closed
	once sync.Once
}

// wake ends the stream's handler (called with the Conn's lock held).
func (s *sseStream) wake() { s.once.Do(func() { close(s.done) }) }

// write sends a batch of queued frames as events with one flush. The queue
// holds WebSocket frames, built once for every member of a room; each is
// re-framed here: a message as an event with its id, other frames as an
// event named by their type, the keepalive ping as a comment line.
func (s *sseStream) write(batch []item, wait time.Duration) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(wait))
	var b bytes.Buffer
	for _, it := range batch {
		switch {
		case it.env != nil:
			writeEvent(&b, it.env.idStr, "message", it.env.wire)
		case it.ctrl == ctrlPing:
			b.WriteString(": ping\n\n")
		case it.ctrl == ctrlPong:
			// WebSocket only: an SSE client sends no pings.
		default:
			payload := framePayload(it.frame)
			typ := frameType(payload)
			id := ""
			if typ == "joined" {
				// The resume point, for a client that reconnects before the
				// next message: the newest message the join covered, or 0-0
				// (everything) when the room had none.
				id = jsonString(payload, "lastId")
				if id == "" {
					id = "0-0"
				}
			}
			writeEvent(&b, id, typ, payload)
		}
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// writeEvent appends one event; data lines split at newlines, which JSON
// never holds unescaped, so a data field is one line in practice.
func writeEvent(b *bytes.Buffer, id, event string, data []byte) {
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimSuffix(line, []byte("\r")))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// frameType is the "type" of a server frame: the first field of every frame
// struct in protocol.go.
func frameType(payload []byte) string {
	if t := jsonString(payload, "type"); t != "" {
		return t
	}
	return "message"
}

// jsonString finds the string field key in a flat JSON object written by
// encoding/json (no spaces), "" when absent; enough for the frames this
// package builds, never used on client input.
func jsonString(payload []byte, key string) string {
	needle := []byte(`"` + key + `":"`)
	i := bytes.Index(payload, needle)
	if i < 0 {
		return ""
	}
	rest := payload[i+len(needle):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
