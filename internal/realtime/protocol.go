package realtime

import "encoding/json"

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
	Type string `json:"type"` // "left"
	Room string `json:"room"`
	Ref  string `json:"ref,omitempty"`
}

type ackFrame struct {
	Type      string `json:"type"` // "ack"
	Ref       string `json:"ref,omitempty"`
	ID        string `json:"id"`
	Room      string `json:"room"`
	Duplicate bool   `json:"duplicate"`
}

type errorFrame struct {
	Type   string `json:"type"` // "error"
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Room   string `json:"room,omitempty"`
	Ref    string `json:"ref,omitempty"`
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
