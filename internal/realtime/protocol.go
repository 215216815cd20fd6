package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redlane/redlane/internal/realtime/access"
	"github.com/redlane/redlane/internal/web"
)

// Close codes this package sends, beside the standard 1001 (server going
// away), 1008 (policy), 1009 (frame too big) and 1011 (internal error).
const (
	// CloseTryAgain (1013) is sent when Redis could not set up a room.
	CloseTryAgain = 1013
	// CloseSlowConsumer (4008) is sent to a client that did not read fast
	// enough: its queue filled up, and it was dropped rather than slow the room.
	CloseSlowConsumer = 4008
)

// inFrame is a frame a client sends. A text frame that is not a JSON object
// is a chat message to the URL's room, so `wscat` users can just type.
//
//	{"type":"message","room":"r","text":"hi","ref":"1","idempotencyKey":"k"}
//	{"type":"join","room":"r","since":"1700000000000-0"}
//	{"type":"leave","room":"r"}
//	{"type":"ping"}
type inFrame struct {
	Type           string `json:"type"`
	Room           string `json:"room,omitempty"`
	Text           string `json:"text,omitempty"`
	Message        string `json:"message,omitempty"` // the HTTP body's name for text
	Since          string `json:"since,omitempty"`
	Ref            string `json:"ref,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	Token          string `json:"token,omitempty"` // join: a room token (policy.go)
}

// handleFrame answers one client frame. Mistakes get an error frame; the
// socket stays open.
func (h *Hub) handleFrame(ctx context.Context, c *Conn, data []byte) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] != '{' {
		h.socketPublish(ctx, c, inFrame{Type: "message", Text: string(data)})
		return
	}
	var f inFrame
	if err := json.Unmarshal(trimmed, &f); err != nil {
		c.send(errorFrame{Type: "error", Code: "bad-frame", Detail: "frame is not valid JSON: " + err.Error()})
		return
	}
	// The rules of HTTP bodies (web.CheckJSON): json.Unmarshal would keep the
	// last of two "text" keys and turn invalid UTF-8 into U+FFFD unseen.
	if field, problem := web.CheckJSON(trimmed); problem != "" {
		c.send(errorFrame{Type: "error", Code: "bad-frame", Detail: field + " " + problem, Room: f.Room, Ref: f.Ref})
		return
	}
	switch f.Type {
	case "message", "publish":
		h.socketPublish(ctx, c, f)
	case "join", "subscribe":
		var since *streamID
		if f.Since != "" {
			id, ok := parseID(f.Since)
			if !ok {
				c.send(errorFrame{Type: "error", Code: "invalid-since", Detail: "since must be a message id such as 1700000000000-0", Room: f.Room, Ref: f.Ref})
				return
			}
			since = &id
		}
		if err := h.join(ctx, c, f.Room, since, f.Ref, f.Token); err != nil {
			var je *joinError
			if errors.As(err, &je) {
				c.send(errorFrame{Type: "error", Code: je.code, Detail: je.detail, Room: f.Room, Ref: f.Ref})
			}
		}
	case "leave", "unsubscribe":
		if !h.leave(c, f.Room) {
			c.send(errorFrame{Type: "error", Code: "not-joined", Detail: "not in room " + f.Room, Room: f.Room, Ref: f.Ref})
			return
		}
		c.send(leftFrame{Type: "left", Room: f.Room, Ref: f.Ref})
	case "ping":
		c.send(map[string]string{"type": "pong", "ref": f.Ref})
	default:
		c.send(errorFrame{Type: "error", Code: "unknown-type", Detail: `type must be one of message, join, leave, ping; got "` + f.Type + `"`, Ref: f.Ref})
	}
}

// socketPublish publishes a message frame to one of the socket's rooms (the
// URL's when it names none): an ack when the client asked for one (ref or
// idempotency key), an error frame when it was not sent.
func (h *Hub) socketPublish(ctx context.Context, c *Conn, f inFrame) {
	room := f.Room
	if room == "" {
		room = c.primary
	}
	text := f.Text
	if text == "" {
		text = f.Message
	}
	fail := func(code, detail string) {
		c.send(errorFrame{Type: "error", Code: code, Detail: detail, Room: room, Ref: f.Ref})
	}
	c.mu.Lock()
	joined, token := c.rooms[room] != nil, c.tokens[room]
	c.mu.Unlock()
	if !joined {
		fail("not-joined", "join a room before sending to it (room "+room+")")
		return
	}
	if p := c.who(); !h.may(p, room, access.Publish, token) {
		fail("forbidden", forbiddenDetail(p, room, access.Publish))
		return
	}
	if problem := h.checkText(text); problem != "" {
		fail("invalid-message", "text "+problem)
		return
	}
	if f.IdempotencyKey != "" && !validIdempotencyKey(f.IdempotencyKey) {
		fail("invalid-idempotency-key", "idempotencyKey must be 1-128 printable ASCII characters")
		return
	}
	if !h.admitSocketMessage(ctx, c, room, f.Ref) {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := h.Publish(pctx, room, c.sender, text, f.IdempotencyKey, "ws")
	if err != nil {
		h.log.Warn("realtime: publish from socket failed", "room", room, "error", err.Error())
		fail("unavailable", "the message was not sent: Redis is unavailable; try again")
		return
	}
	if f.Ref != "" || f.IdempotencyKey != "" {
		c.send(ackFrame{Type: "ack", Ref: f.Ref, ID: res.ID, Room: room, Duplicate: res.Duplicate})
	}
}

// checkText returns what is wrong with a message text, or "".
func (h *Hub) checkText(text string) string {
	max := h.cfg.Current().Spec.Realtime.MaxMessageBytes
	switch {
	case strings.TrimSpace(text) == "":
		return "must not be empty"
	case len(text) > max:
		return "must be at most " + strconv.Itoa(max) + " bytes"
	case !utf8.ValidString(text):
		return "must be valid UTF-8"
	case strings.IndexByte(text, 0) >= 0:
		return `must not contain NUL (\u0000)`
	}
	return ""
}

// Frames the server sends besides messages ({"type":"message",...}).
type joinedFrame struct {
	Type    string `json:"type"` // "joined"
	Room    string `json:"room"`
	Ref     string `json:"ref,omitempty"`
	LastID  string `json:"lastId,omitempty"` // newest message the client has, live ones follow
	Resumed bool   `json:"resumed"`
	Missed  int    `json:"missed"` // messages replayed from history
}

type gapFrame struct {
	Type   string `json:"type"` // "gap"
	Room   string `json:"room"`
	After  string `json:"after"`          // the last message the client has
	Next   string `json:"next,omitempty"` // the first message it gets next; messages between are lost
	Reason string `json:"reason"`
}

type leftFrame struct {
	Type   string `json:"type"` // "left"
	Room   string `json:"room"`
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason,omitempty"` // forbidden: a policy change took the socket out
	Detail string `json:"detail,omitempty"`
}

type ackFrame struct {
	Type      string `json:"type"` // "ack"
	Ref       string `json:"ref,omitempty"`
	ID        string `json:"id"`
	Room      string `json:"room"`
	Duplicate bool   `json:"duplicate"`
}

type errorFrame struct {
	Type         string `json:"type"` // "error"
	Code         string `json:"code"`
	Detail       string `json:"detail"`
	Room         string `json:"room,omitempty"`
	Ref          string `json:"ref,omitempty"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"` // rate-limited: when the next message may go
}

type welcomeFrame struct {
	Type         string `json:"type"` // "welcome"
	Connection   string `json:"connection"`
	Sender       string `json:"sender"`
	MaxRooms     int    `json:"maxRooms"`
	MaxTextBytes int    `json:"maxTextBytes"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed frame types above are encoded
	}
	return b
}
