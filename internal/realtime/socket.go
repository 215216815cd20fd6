package realtime

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// HandleSocket serves WS /ws/chat/{room} and WS /ws/chat (rooms joined by
// frames). ?since=ID resumes the URL's room after message ID.
func (h *Hub) HandleSocket() http.Handler {
	up := h.upgrader()
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		rt := h.cfg.Current().Spec.Realtime
		room := web.Var(r, "room")
		if room != "" {
			if err := ValidRoom(room); err != nil {
				return web.BadRequest("room", "room "+err.Error())
			}
		}
		var since *streamID
		if s := r.URL.Query().Get("since"); s != "" {
			id, ok := parseID(s)
			if !ok || room == "" {
				return web.BadRequest("since", "since must be a message id such as 1700000000000-0, with a room in the path")
			}
			since = &id
		}
		p, err := h.principal(r)
		if err != nil {
			return err
		}
		if !h.originAllowed(r, rt.AllowedOrigins) {
			return web.Errorf(http.StatusForbidden, "origin-not-allowed", "Origin %q may not open chat sockets.", r.Header.Get("Origin"))
		}
		if !websocket.IsWebSocketUpgrade(r) {
			w.Header().Set("Upgrade", "websocket")
			return web.Errorf(http.StatusUpgradeRequired, "websocket-required", "This endpoint speaks WebSocket: connect with a WebSocket client (e.g. wscat -c ws://host/ws/chat/room1).")
		}
		c := h.newConn(r, p, room, rt)
		if err := h.register(c, rt.MaxConnections); err != nil {
			return errdefs.Unavailable("Chat on this instance ("+err.Error()+")", err)
		}
		token := requestToken(r)
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			h.unregister(c)
			return nil // the upgrader answered
		}
		c.mu.Lock()
		c.ws, c.raw = ws, rawConn(ws.NetConn())
		c.mu.Unlock()
		// The socket gets a goroutine of its own and the HTTP handler
		// returns: net/http's per-request state (its 4 KiB buffers, the
		// request, the deep middleware stack) is then garbage instead of
		// staying alive as long as the socket.
		go func() {
			defer h.unregister(c)
			h.serve(context.Background(), c, since, token) // no request's values, never cancelled
		}()
		return nil
	})
}

// newConn is a client connection of either transport, before it registers.
func (h *Hub) newConn(r *http.Request, p *web.Principal, room string, rt config.Realtime) *Conn {
	c := &Conn{h: h, id: "c" + randomID(6), primary: room, principal: p,
		queueCap: rt.SendQueueSize, writeWait: rt.WriteTimeout.Duration, rooms: map[string]*member{}}
	c.sender = "anon-" + c.id[1:7]
	if p != nil {
		c.sender = p.Username
	}
	c.subject = senderSubject(p, web.ClientIP(r, web.ParsePrefixes(h.cfg.Current().Spec.Server.TrustedProxies)))
	return c
}

// welcome queues the first frame a client gets: its connection id, sender
// name and limits.
func (c *Conn) welcome(rt config.Realtime) {
	c.send(welcomeFrame{Type: "welcome", Connection: c.id, Sender: c.sender, MaxRooms: rt.MaxRoomsPerConnection, MaxTextBytes: rt.MaxMessageBytes})
}

// joinPrimary joins the URL's room; a refusal is an error frame, then the
// connection closes with the refusal's code.
func (h *Hub) joinPrimary(ctx context.Context, c *Conn, since *streamID, token string) {
	if err := h.join(ctx, c, c.primary, since, "", token); err != nil {
		var je *joinError
		if errors.As(err, &je) {
			c.send(errorFrame{Type: "error", Code: je.code, Detail: je.detail, Room: c.primary})
			c.closeWith(je.close, je.detail)
		}
	}
}

// leaveAll takes a closed connection out of every room it is in.
func (h *Hub) leaveAll(c *Conn) {
	c.mu.Lock()
	rooms := make([]string, 0, len(c.rooms))
	for name := range c.rooms {
		rooms = append(rooms, name)
	}
	c.mu.Unlock()
	for _, name := range rooms {
		h.leave(c, name)
	}
}

func (h *Hub) principal(r *http.Request) (*web.Principal, error) {
	p := web.PrincipalFrom(r.Context())
	if p == nil && h.auth != nil {
		var err error
		if p, err = h.auth(r); err != nil {
			return nil, web.Errorf(http.StatusUnauthorized, "unauthorized", "The session is not valid: %v.", err)
		}
	}
	if p == nil && h.cfg.Current().Spec.Realtime.RequireAuthentication {
		return nil, web.Errorf(http.StatusUnauthorized, "unauthorized", "Chat requires a session; anonymous chat is disabled.")
	}
	return h.withRole(r.Context(), p), nil
}

// originAllowed lets non-browser clients (no Origin) in, and browsers from
// the request's own host or a configured origin.
func (h *Hub) originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(allowed) == 0 {
		allowed = h.cfg.Current().Spec.Server.CORS.AllowedOrigins
	}
	if slices.Contains(allowed, "*") || slices.Contains(allowed, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// writeBuffers lends gorilla a write buffer for the handshake only.
var writeBuffers sync.Pool

// upgrader keeps per-socket memory small: a 512 B read buffer instead of
// the server's 4 KiB one, and no write buffer of its own (gorilla never
// writes after the handshake: frames are written raw, see frame.go).
func (h *Hub) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  512,
		WriteBufferSize: 1024,
		WriteBufferPool: &writeBuffers,
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before Upgrade, with a problem+json answer
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			web.WriteProblem(w, r, web.Errorf(status, "websocket-handshake", "WebSocket handshake failed: %v.", reason))
		},
	}
}

// serve runs the socket until it closes: the URL's room first, then frames.
func (h *Hub) serve(ctx context.Context, c *Conn, since *streamID, token string) {
	rt := h.cfg.Current().Spec.Realtime
	ws := c.ws
	// Every write to the socket goes through its writer as raw frames (see
	// frame.go), so gorilla must never write on its own: pongs and the
	// close echo are queued, and the frame size limit is enforced here
	// rather than by gorilla's read limit (which would write a close frame).
	// No read deadline either: the hub's keepalive sweep drops sockets silent
	// for longer than pingInterval+pongTimeout, and a pong only stamps the
	// time, which keeps this long-lived goroutine's stack small.
	c.touch()
	ws.SetPongHandler(func(string) error { c.touch(); return nil })
	ws.SetPingHandler(func(data string) error {
		c.touch()
		c.mu.Lock()
		c.pushLocked(item{frame: encodeFrame(opPong, []byte(data)), ctrl: ctrlPong})
		c.mu.Unlock()
		return nil
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.closeWith(code, "") // echoed when the socket is torn down
		return nil
	})
	c.welcome(rt)
	if c.primary != "" {
		// The join (Redis calls, history replay) runs on a goroutine of its
		// own: the stack it grows is freed when it ends, and the reader,
		// which lives as long as the socket, keeps a small one.
		joined := make(chan struct{})
		go func() {
			defer close(joined)
			h.joinPrimary(ctx, c, since, token)
		}()
		<-joined
	}
	max := rt.MaxFrameBytes
	for {
		mt, r, err := ws.NextReader()
		if err != nil {
			break
		}
		if mt == websocket.BinaryMessage {
			// Chat is text: bytes that are not UTF-8 would be published as
			// a string nobody can read, so a binary frame ends the socket
			// with 1003 (unsupported data), the code RFC 6455 gives it.
			c.closeWith(websocket.CloseUnsupportedData, "binary frames are not accepted; send text frames")
			break
		}
		data, err := io.ReadAll(io.LimitReader(r, max+1))
		if err != nil {
			break
		}
		if int64(len(data)) > max {
			c.closeWith(websocket.CloseMessageTooBig, "frame larger than "+strconv.FormatInt(max, 10)+" bytes")
			break
		}
		if closed, _, _ := c.closeState(); closed {
			break // frames gorilla had buffered before the close are not handled
		}
		c.touch()
		// Frames are handled on a short-lived goroutine (one at a time, in
		// order), so the deep stack a publish needs is not kept by the reader.
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.handleFrame(ctx, c, data)
		}()
		<-done
	}
	closed, code, text := c.closeState()
	if !closed {
		c.closeWith(0, "") // the connection broke or the peer vanished
	}
	h.leaveAll(c)
	if code > 0 && code != websocket.CloseAbnormalClosure && c.waitWriterIdle(time.Second) {
		nc := ws.NetConn()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(closeFrame(code, text))
	}
	_ = ws.Close()
}
