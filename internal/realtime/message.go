package realtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/telemetry"
)

// Message is a chat message as clients see it, on the socket (with
// "type":"message") and in GET /chat/history.
type Message struct {
	ID        string `json:"id"`
	Room      string `json:"room"`
	Sender    string `json:"sender"`
	Text      string `json:"text"`
	Timestamp string `json:"timestamp"`
}

// body is what the publish script stores and publishes; the id is added by
// Redis (XADD), so it is spliced in front when the frame is built.
type body struct {
	Room      string `json:"room"`
	Sender    string `json:"sender"`
	Text      string `json:"text"`
	Timestamp string `json:"timestamp"`
}

// encodeBody is the stored and published JSON of a new message.
func encodeBody(room, sender, text string, at time.Time) string {
	b, _ := json.Marshal(body{Room: room, Sender: sender, Text: text, Timestamp: at.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	return string(b)
}

// envelope is one message inside an instance: parsed once when it arrives
// from Redis, built once as a WebSocket frame, and queued to every local
// member of its room.
type envelope struct {
	idStr string
	id    streamID
	prev  string // id of the message before it in the room, "" if none is known
	epoch string // the writing server's epoch (see scripts.go), "" if unknown
	// failover marks the first message a promoted replica wrote after its
	// master's: acknowledged messages before it may be lost (scripts.go).
	failover bool
	pubUS    int64  // publish time, unix µs, for the delivery latency metric
	frame    []byte // the whole WebSocket frame, however many sockets get it
	wire     []byte // frame's JSON payload
	// tp is the publisher's W3C traceparent ("" when it had none or sent
	// it before tracing existed); never part of frame or wire (tracing.go).
	tp string
	// span is this instance's fan-out span, set before the envelope is
	// queued to any socket: the delivery latency's exemplar.
	span trace.SpanContext
}

const messagePrefix = `{"type":"message","id":"`

// newEnvelope builds the envelope of message id from its stored body.
func newEnvelope(room, id, prev string, pubUS int64, rawBody string) (*envelope, error) {
	sid, ok := parseID(id)
	if !ok || len(rawBody) < 2 || rawBody[0] != '{' {
		return nil, fmt.Errorf("malformed message %q in room %s", id, room)
	}
	// The id is spliced in front of the body's fields, straight into the
	// frame: one allocation per message, shared by every member's queue.
	n := len(messagePrefix) + len(id) + len(`",`) + len(rawBody) - 1
	frame := appendFrameHeader(make([]byte, 0, frameHeaderLen(n)+n), opText, n)
	head := len(frame)
	frame = append(frame, messagePrefix...)
	frame = append(frame, id...)
	frame = append(frame, `",`...)
	frame = append(frame, rawBody[1:]...)
	return &envelope{idStr: id, id: sid, prev: prev, pubUS: pubUS, frame: frame, wire: frame[head:]}, nil
}

// message decodes the envelope for JSON answers.
func (e *envelope) message() Message {
	var m Message
	_ = json.Unmarshal(e.wire, &m)
	return m
}

// decodePayload parses what a room's channel carries,
// "<id>\n<prev>\n<µs>[ f][ <traceparent>]\n<body>" (see keys.go). The
// failover mark and the traceparent ride after the time so that an
// instance of an older version, which reads that line as the time alone,
// still delivers the message (without its latency). Anything on that line
// that is neither is ignored.
func decodePayload(room, payload string) (*envelope, error) {
	parts := strings.SplitN(payload, "\n", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("malformed pub/sub payload in room %s", room)
	}
	t, rest, _ := strings.Cut(parts[2], " ")
	us, _ := strconv.ParseInt(t, 10, 64)
	e, err := newEnvelope(room, parts[0], parts[1], us, parts[3])
	if err != nil {
		return nil, err
	}
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		switch {
		case tok == "f":
			e.failover = true
		case telemetry.ValidTraceparent(tok):
			e.tp = tok
		}
	}
	return e, nil
}

// decodeEntry parses one entry of a room's history stream.
func decodeEntry(room string, x redis.XMessage) (*envelope, error) {
	str := func(k string) string { s, _ := x.Values[k].(string); return s }
	us, _ := strconv.ParseInt(str("t"), 10, 64)
	e, err := newEnvelope(room, x.ID, str("p"), us, str("b"))
	if err == nil {
		e.epoch, e.failover = str("e"), str("f") == "1"
		if tp := str("c"); telemetry.ValidTraceparent(tp) {
			e.tp = tp
		}
	}
	return e, err
}
