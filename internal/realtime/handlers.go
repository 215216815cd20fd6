package realtime

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/realtime/access"
	"github.com/redlane/redlane/internal/web"
)

// postMessage is the body of POST /chat/message.
type postMessage struct {
	Room           string `json:"room"`
	Message        string `json:"message"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Valid reports the body's invalid fields (web.Decode calls it).
func (p postMessage) Valid() map[string]string {
	bad := map[string]string{}
	if err := ValidRoom(p.Room); err != nil {
		bad["room"] = err.Error()
	}
	if strings.TrimSpace(p.Message) == "" {
		bad["message"] = "must not be empty"
	}
	if p.IdempotencyKey != "" && !validIdempotencyKey(p.IdempotencyKey) {
		bad["idempotencyKey"] = "must be 1-128 printable ASCII characters"
	}
	return bad
}

// postAnswer is its answer: the message as stored, and whether the
// idempotency key had already sent it.
type postAnswer struct {
	Status string `json:"status"`
	Message
	Duplicate bool `json:"duplicate"`
}

// HandlePostMessage serves POST /chat/message {"room","message"}; an
// Idempotency-Key header (or idempotencyKey field) makes retries safe.
func (h *Hub) HandlePostMessage() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.principal(r)
		if err != nil {
			return err
		}
		in, err := web.Decode[postMessage](r)
		if err != nil {
			return err
		}
		if err := h.allow(p, in.Room, access.Publish, requestToken(r)); err != nil {
			return err
		}
		if problem := h.checkText(in.Message); problem != "" {
			return errdefs.InvalidFields(map[string]string{"message": problem})
		}
		if k := r.Header.Get("Idempotency-Key"); k != "" && in.IdempotencyKey == "" {
			if !validIdempotencyKey(k) {
				return web.BadRequest("Idempotency-Key", "must be 1-128 printable ASCII characters")
			}
			in.IdempotencyKey = k
		}
		if err := h.admitHTTPMessage(w, r, p); err != nil {
			return err
		}
		sender := "anonymous"
		if p != nil {
			sender = p.Username
		}
		res, err := h.Publish(r.Context(), in.Room, sender, in.Message, in.IdempotencyKey, "http")
		if err != nil {
			return err
		}
		e, err := newEnvelope(in.Room, res.ID, "", res.PubUS, res.Body)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, postAnswer{Status: "sent", Message: e.message(), Duplicate: res.Duplicate})
	})
}

// HandleRooms serves GET /chat/rooms: rooms with members on any instance.
func (h *Hub) HandleRooms() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		limit, err := web.QueryInt(r, "limit", 1000, 1, 10000)
		if err != nil {
			return err
		}
		rooms, err := h.Rooms(r.Context(), int64(limit))
		if err != nil {
			return err
		}
		// Only the rooms whose presence the caller may read: a member count
		// is presence, and a listed name would tell that the room exists.
		p := h.withRole(r.Context(), web.PrincipalFrom(r.Context()))
		rooms = slices.DeleteFunc(rooms, func(rm RoomInfo) bool { return !h.may(p, rm.Room, access.Presence, "") })
		return web.Encode(w, http.StatusOK, map[string]any{"rooms": rooms, "count": len(rooms)})
	})
}

// HandleHistory serves GET /chat/history?room=R&limit=N&before=ID: up to N
// messages older than ID (newest when absent), oldest first; nextBefore
// pages further back.
func (h *Hub) HandleHistory() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		room, err := h.roomParam(r, q, access.History)
		if err != nil {
			return err
		}
		max := h.cfg.Current().Spec.Realtime.HistoryPageMax
		limit, err := web.QueryInt(r, "limit", min(50, max), 1, max)
		if err != nil {
			return err
		}
		before := q.Get("before")
		if before != "" {
			if _, ok := parseID(before); !ok {
				return web.BadRequest("before", "before must be a message id such as 1700000000000-0")
			}
		}
		es, err := h.hist.before(r.Context(), room, before, int64(limit)+1)
		if err != nil {
			return err
		}
		more := len(es) > limit
		if more {
			es = es[:limit]
		}
		msgs := make([]Message, len(es))
		for i, e := range es {
			msgs[len(es)-1-i] = e.message()
		}
		out := map[string]any{"room": room, "messages": msgs, "count": len(msgs)}
		if more {
			out["nextBefore"] = msgs[0].ID
		}
		return web.Encode(w, http.StatusOK, out)
	})
}

// HandlePresence serves GET /chat/presence?room=R: who is in the room on
// any instance.
func (h *Hub) HandlePresence() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		room, err := h.roomParam(r, r.URL.Query(), access.Presence)
		if err != nil {
			return err
		}
		ms, err := h.Presence(r.Context(), room)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"room": room, "members": ms, "count": len(ms)})
	})
}

// roomParam reads the room query parameter, a 400 naming it when invalid
// and a 403 when the caller may not take action a there.
func (h *Hub) roomParam(r *http.Request, q url.Values, a access.Action) (string, error) {
	room := q.Get("room")
	if err := ValidRoom(room); err != nil {
		return "", web.BadRequest("room", "room "+err.Error())
	}
	return room, h.allow(h.withRole(r.Context(), web.PrincipalFrom(r.Context())), room, a, requestToken(r))
}
