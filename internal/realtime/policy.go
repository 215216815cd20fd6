package realtime

import (
	"context"
	"net/http"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/realtime/access"
	"github.com/redlane/redlane/internal/web"
)

// Room access policies (spec.realtime.roomPolicies, package access) are
// enforced here, on every entry point alike: a socket's join and message
// frames, an SSE stream, POST /chat/message, history, presence and the room
// list. The answer depends on the room's name and the caller only, never on
// whether the room has members or messages, so a refusal tells nothing of a
// room's existence.

// CloseForbidden (4403) closes a socket whose URL room a policy refuses.
const CloseForbidden = 4403

// compiledPolicies caches the policies of one configuration generation.
type compiledPolicies struct {
	cfg *config.Config
	ps  *access.Policies
}

// policies are the room policies in effect, compiled once per
// configuration (validation already compiled them, so this cannot fail;
// if it did, every room would be refused rather than opened).
func (h *Hub) policies() *access.Policies {
	cur := h.cfg.Current()
	if c := h.compiled.Load(); c != nil && c.cfg == cur {
		return c.ps
	}
	rules := make([]access.Rule, len(cur.Spec.Realtime.RoomPolicies))
	for i, rp := range cur.Spec.Realtime.RoomPolicies {
		rules[i] = rp.Rule()
	}
	ps, err := access.Compile(rules)
	if err != nil {
		h.log.Error("realtime: room policies do not compile; refusing every room", "error", err.Error())
		ps, _ = access.Compile([]access.Rule{{Match: "*"}})
	}
	h.compiled.Store(&compiledPolicies{cfg: cur, ps: ps})
	return ps
}

// withRole fills in p's role when a policy admits by role: sessions carry
// the user, not the role, so it is read from the users database. A failed
// lookup leaves it empty, which no role: entry admits (fail closed).
func (h *Hub) withRole(ctx context.Context, p *web.Principal) *web.Principal {
	if p == nil || p.Role != "" || p.UserID == 0 || h.roleOf == nil || !h.policies().UsesRoles() {
		return p
	}
	role, err := h.roleOf(ctx, p.UserID)
	if err != nil {
		h.log.Warn("realtime: cannot read the user's role for room policies", "user_id", p.UserID, "error", err.Error())
		return p
	}
	q := *p
	q.Role = role
	return &q
}

// may reports whether p may take action a in room, with token the room
// token the caller presented ("" for none).
func (h *Hub) may(p *web.Principal, room string, a access.Action, token string) bool {
	c := &access.Caller{}
	if p != nil {
		c.Username, c.Role = p.Username, p.Role
	}
	if token != "" {
		keys := h.cfg.Current().Spec.Realtime.RoomTokens.Keys
		ks := make([]access.Key, len(keys))
		for i, k := range keys {
			ks[i] = access.Key{ID: k.ID, Secret: []byte(k.Secret)}
		}
		err := access.VerifyToken(token, ks, room, c.Username, time.Now())
		c.Token = err == nil
		if err != nil {
			h.log.Debug("realtime: room token refused", "room", room, "reason", err.Error())
		}
	}
	return h.policies().Allows(c, room, a)
}

// requestToken is the room token of a request: the X-Room-Token header, or
// ?token= (browsers cannot set headers on WebSocket and EventSource). The
// access log records paths without their query.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Room-Token"); t != "" {
		return t
	}
	return r.URL.Query().Get("token")
}

// allow is may as an error: a 403 naming the room field, the same for every
// room the policy refuses.
func (h *Hub) allow(p *web.Principal, room string, a access.Action, token string) error {
	if h.may(p, room, a, token) {
		return nil
	}
	return errdefs.Forbidden("room-forbidden", forbiddenDetail(p, room, a), "room")
}

func forbiddenDetail(p *web.Principal, room string, a access.Action) string {
	d := "The room policy does not let you " + a.String() + " in room " + room + "."
	if p == nil {
		d += " Sign in: it may let a user in."
	}
	return d
}

// enforcePolicies applies a configuration change to connections already in
// rooms: each is taken out of every room it may no longer subscribe to and
// told why by a left frame; an SSE stream, which has one room, then ends.
func (h *Hub) enforcePolicies() {
	h.mu.Lock()
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		// A connection opened before role: entries existed has no role yet.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p := h.withRole(ctx, c.who())
		cancel()
		c.mu.Lock()
		c.principal = p
		var refused []string
		for name := range c.rooms {
			if !h.may(p, name, access.Subscribe, c.tokens[name]) {
				refused = append(refused, name)
			}
		}
		c.mu.Unlock()
		for _, name := range refused {
			if !h.leave(c, name) {
				continue
			}
			detail := "the room policy no longer lets you subscribe to room " + name
			c.send(leftFrame{Type: "left", Room: name, Reason: "forbidden", Detail: detail})
			if c.sse != nil {
				c.closeWith(CloseForbidden, detail)
			}
		}
	}
}

// who is the connection's caller (enforcePolicies may fill in its role).
func (c *Conn) who() *web.Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal
}
