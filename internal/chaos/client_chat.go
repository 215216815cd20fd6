package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// chatRecord is what one chat client (one logical member of a room, across
// its reconnects) saw.
type chatRecord struct {
	Room string `json:"room"`
	// Base is the room's newest id when the client first joined ("0-0" for
	// an empty room): it is owed every message after it.
	Base   string      `json:"base"`
	IDs    []string    `json:"ids"` // message ids in the order received
	Gaps   []gapRecord `json:"gaps,omitempty"`
	Joins  []joinEvent `json:"joins"`
	Closes []closeRec  `json:"closes,omitempty"`
	// Errors are error frames and failed dials (the first few).
	Errors       []string `json:"errors,omitempty"`
	DialFailures int      `json:"dialFailures"`
	// Online is whether the client was joined when it was stopped.
	Online bool `json:"online"`
}

type gapRecord struct {
	After  string `json:"after"`
	Next   string `json:"next,omitempty"`
	Reason string `json:"reason"`
	Pos    int    `json:"pos"` // len(IDs) when it arrived: the gap lies before IDs[Pos]
}

type joinEvent struct {
	At      int64  `json:"at"` // unix ms
	Target  string `json:"target"`
	Since   string `json:"since,omitempty"`
	LastID  string `json:"lastId,omitempty"`
	Resumed bool   `json:"resumed"`
	Missed  int    `json:"missed"`
}

type closeRec struct {
	At     int64  `json:"at"` // unix ms
	Code   int    `json:"code"`
	Reason string `json:"reason,omitempty"`
	Target string `json:"target"`
}

// chatFrame is any frame the server sends, decoded loosely.
type chatFrame struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Room    string `json:"room"`
	After   string `json:"after"`
	Next    string `json:"next"`
	Reason  string `json:"reason"`
	Code    string `json:"code"`
	Detail  string `json:"detail"`
	LastID  string `json:"lastId"`
	Resumed bool   `json:"resumed"`
	Missed  int    `json:"missed"`
}

// runChatClient keeps -n sockets in -rooms (round robin), spread over the
// targets, until SIGINT. A socket that closes reconnects to the next target
// with ?since= its last message id (or the lastId of its join). SIGUSR1
// takes every socket offline, SIGUSR2 brings them back (resume).
func runChatClient(ctx context.Context, args []string, stdout io.Writer) error {
	fs, targetsFlag, out := clientFlags("chat")
	rooms := fs.String("rooms", "", "comma-separated rooms")
	n := fs.Int("n", 10, "sockets")
	offset := fs.Int("offset", 0, "first target index")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets, roomList := splitList(*targetsFlag), splitList(*rooms)
	if len(targets) == 0 || len(roomList) == 0 || *n < 1 {
		return errors.New("need -targets, -rooms and -n >= 1")
	}
	cl := &chatClient{targets: targets, on: true, changed: make(chan struct{})}
	usr := make(chan os.Signal, 4)
	signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(usr)
	go func() {
		for sig := range usr {
			cl.set(sig == syscall.SIGUSR2)
		}
	}()

	socks := make([]*chatSocket, *n)
	joined := make(chan bool, *n)
	var wg sync.WaitGroup
	for i := range socks {
		// Socket i is in room i mod rooms; its first target changes with
		// every round of rooms, so each room has members on every target.
		s := &chatSocket{cl: cl, idx: i/len(roomList) + *offset, rec: chatRecord{Room: roomList[i%len(roomList)]}, first: joined}
		socks[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	ok, failed := 0, 0
	timeout := time.After(30 * time.Second)
wait:
	for ok+failed < *n {
		select {
		case j := <-joined:
			if j {
				ok++
			} else {
				failed++
			}
		case <-timeout:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	fmt.Fprintf(stdout, "ready joined=%d failed=%d\n", ok, failed)
	<-ctx.Done()
	wg.Wait()
	recs := make([]chatRecord, len(socks))
	for i, s := range socks {
		recs[i] = s.rec
	}
	return writeJSON(*out, recs)
}

// chatClient is what a process's sockets share: targets and the
// online/offline switch.
type chatClient struct {
	targets []string
	mu      sync.Mutex
	on      bool
	changed chan struct{} // closed (and replaced) at every switch
}

func (c *chatClient) set(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on != on {
		c.on = on
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *chatClient) get() (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on, c.changed
}

type chatSocket struct {
	cl    *chatClient
	idx   int
	rec   chatRecord
	last  string // newest id this socket has, the since of its next resume
	first chan<- bool
	tries int
}

var dialer = &websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}

func (s *chatSocket) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if on, changed := s.cl.get(); !on {
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			continue
		}
		target := s.cl.targets[(s.idx+s.tries)%len(s.cl.targets)]
		joinedOnce := s.session(ctx, target)
		s.tries++ // the next attempt goes to the next target
		if joinedOnce {
			backoff = 100 * time.Millisecond
		}
		if err := sleep(ctx, backoff); err != nil {
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

// session is one connection: dial, join, read until it ends. It reports
// whether the join succeeded.
func (s *chatSocket) session(ctx context.Context, target string) bool {
	u := "ws" + strings.TrimPrefix(target, "http") + "/ws/chat/" + url.PathEscape(s.rec.Room)
	since := s.last
	if since == "" && s.rec.Base != "" {
		since = s.rec.Base
	}
	if since != "" {
		u += "?since=" + url.QueryEscape(since)
	}
	ws, resp, err := dialer.DialContext(ctx, u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.rec.DialFailures++
		msg := err.Error()
		if resp != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			msg = fmt.Sprintf("%s: %d %s", msg, resp.StatusCode, b)
		}
		s.noteError("dial " + msg)
		s.firstResult(false)
		return false
	}
	// Going offline or stopping closes the socket from here, so the read ends.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			on, changed := s.cl.get()
			if !on {
				break
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
			case <-stop:
				return
			}
			break
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = ws.Close()
	}()
	joined := false
	for {
		_, data, err := ws.ReadMessage()
		if err != nil && ctx.Err() != nil {
			_ = ws.Close() // stopping: the record keeps its state
			return joined
		}
		if err != nil {
			code, reason := 1006, err.Error()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Text
			}
			s.rec.Closes = append(s.rec.Closes, closeRec{At: time.Now().UnixMilli(), Code: code, Reason: reason, Target: target})
			s.rec.Online = false
			if !joined {
				s.firstResult(false)
			}
			_ = ws.Close()
			return joined
		}
		var f chatFrame
		if json.Unmarshal(data, &f) != nil {
			s.noteError("undecodable frame: " + string(data))
			continue
		}
		switch f.Type {
		case "message":
			s.rec.IDs = append(s.rec.IDs, f.ID)
			s.last = f.ID
		case "gap":
			s.rec.Gaps = append(s.rec.Gaps, gapRecord{After: f.After, Next: f.Next, Reason: f.Reason, Pos: len(s.rec.IDs)})
		case "joined":
			joined = true
			s.rec.Online = true
			s.rec.Joins = append(s.rec.Joins, joinEvent{At: time.Now().UnixMilli(), Target: target, Since: since,
				LastID: f.LastID, Resumed: f.Resumed, Missed: f.Missed})
			if s.rec.Base == "" {
				s.rec.Base = f.LastID
				if s.rec.Base == "" {
					s.rec.Base = "0-0"
				}
			}
			if s.last == "" || (f.LastID != "" && idLess(s.last, f.LastID)) {
				s.last = f.LastID
			}
			s.firstResult(true)
		case "error":
			s.noteError(f.Code + ": " + f.Detail)
		}
	}
}

func (s *chatSocket) firstResult(ok bool) {
	if s.first != nil {
		s.first <- ok
		s.first = nil
	}
}

func (s *chatSocket) noteError(msg string) {
	if len(s.rec.Errors) < 10 {
		s.rec.Errors = append(s.rec.Errors, msg)
	}
}
