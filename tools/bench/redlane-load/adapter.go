package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// server is what differs between the servers the tool loads: how a client
// gets into a room, how a message is published, and what a frame that
// needs an answer looks like. Everything else (the schedule, the payload
// with its publish time, the clocks, the counts) is shared, so two servers
// measured by this tool get the identical workload.
type server interface {
	// join opens a socket to target and returns it once it is in room.
	join(ctx context.Context, d *websocket.Dialer, target, room string) (*websocket.Conn, error)
	// publish sends text to room through target's HTTP API.
	publish(ctx context.Context, hc *http.Client, target, room, text string) error
	// answer is what the client must write back on reading frame (a
	// Centrifugo ping), nil for nothing.
	answer(frame []byte) []byte
}

func newServer(kind, apiKey string) (server, error) {
	switch kind {
	case "redlane":
		return redlane{}, nil
	case "centrifugo":
		if apiKey == "" {
			return nil, fmt.Errorf("-kind centrifugo needs -api-key (the http_api.key of its config)")
		}
		return centrifugo{apiKey: apiKey}, nil
	}
	return nil, fmt.Errorf("-kind %q: want redlane or centrifugo", kind)
}

// redlane joins with WS /ws/chat/{room} and publishes with POST /chat/message.
type redlane struct{}

func (redlane) join(ctx context.Context, d *websocket.Dialer, target, room string) (*websocket.Conn, error) {
	ws, _, err := d.DialContext(ctx, wsURL(target)+"/ws/chat/"+room, nil)
	if err != nil {
		return nil, err
	}
	if err := waitJoined(ws); err != nil {
		ws.Close()
		return nil, err
	}
	return ws, nil
}

func (redlane) publish(ctx context.Context, hc *http.Client, target, room, text string) error {
	body, _ := json.Marshal(map[string]string{"room": room, "message": text})
	return post(ctx, hc, target+"/chat/message", body, nil)
}

func (redlane) answer([]byte) []byte { return nil } // gorilla answers pings itself

// centrifugo speaks Centrifugo's JSON protocol on /connection/websocket: a
// connect command (anonymous: the generated config allows it), then a
// subscribe command; messages are published with its HTTP API
// (POST /api/publish, X-API-Key) as {"text": ...}, so the payload carries
// the publish time under the same "text" key as Redlane's messages.
type centrifugo struct{ apiKey string }

func (centrifugo) join(ctx context.Context, d *websocket.Dialer, target, room string) (*websocket.Conn, error) {
	ws, _, err := d.DialContext(ctx, wsURL(target)+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	steps := []string{`{"id":1,"connect":{"name":"redlane-load"}}`, `{"id":2,"subscribe":{"channel":` + strconv.Quote(room) + `}}`}
	for i, cmd := range steps {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
			ws.Close()
			return nil, err
		}
		if err := waitReply(ws, uint32(i+1)); err != nil {
			ws.Close()
			return nil, err
		}
	}
	return ws, nil
}

// waitReply reads frames until the reply to command id, an error if the
// server refused it.
func waitReply(ws *websocket.Conn, id uint32) error {
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer ws.SetReadDeadline(time.Time{})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var r struct {
				ID    uint32          `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if json.Unmarshal(line, &r) != nil || r.ID != id {
				continue
			}
			if r.Error != nil {
				return fmt.Errorf("command %d refused: %s", id, r.Error)
			}
			return nil
		}
	}
}

func (c centrifugo) publish(ctx context.Context, hc *http.Client, target, room, text string) error {
	body, _ := json.Marshal(map[string]any{"channel": room, "data": map[string]string{"text": text}})
	return post(ctx, hc, target+"/api/publish", body, func(r *http.Request) { r.Header.Set("X-API-Key", c.apiKey) })
}

var centrifugoPing = []byte("{}")

// answer returns a pong when frame holds a ping: Centrifugo sends an empty
// command, alone or as one line of a frame of several, and disconnects a
// client that does not answer it.
func (centrifugo) answer(frame []byte) []byte {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if bytes.Equal(line, centrifugoPing) {
			return centrifugoPing
		}
	}
	return nil
}

// post sends body as JSON and fails unless the answer is a 200 without an
// "error" member (Centrifugo's API reports errors inside a 200).
func post(ctx context.Context, hc *http.Client, url string, body []byte, header func(*http.Request)) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if header != nil {
		header(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, answer)
	}
	if bytes.HasPrefix(answer, []byte(`{"error"`)) {
		return fmt.Errorf("%s: %s", url, answer)
	}
	return nil
}

func wsURL(target string) string { return "ws" + strings.TrimPrefix(target, "http") }

var textKey = []byte(`"text":"lt:`)

// publishTimes calls fn with the publish time (unix ns) of every message in
// frame: one for a Redlane frame, as many as Centrifugo put in one frame
// (its JSON protocol joins queued pushes with newlines). The time is the
// text's "lt:<unix ns>:" prefix, wherever the server put the text.
func publishTimes(frame []byte, fn func(sentNS int64)) {
	for {
		i := bytes.Index(frame, textKey)
		if i < 0 {
			return
		}
		frame = frame[i+len(textKey):]
		j := bytes.IndexByte(frame, ':')
		if j < 0 {
			return
		}
		if sent, err := strconv.ParseInt(string(frame[:j]), 10, 64); err == nil {
			fn(sent)
		}
		frame = frame[j:]
	}
}
