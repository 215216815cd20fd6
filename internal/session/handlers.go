package session

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Valid bounds the inputs; a megabyte password would make argon2 a DoS.
func (l loginRequest) Valid() map[string]string {
	p := map[string]string{}
	switch {
	case strings.TrimSpace(l.Username) == "":
		p["username"] = "must not be empty"
	case utf8.RuneCountInString(l.Username) > 64:
		p["username"] = "must be at most 64 characters"
	}
	switch {
	case l.Password == "":
		p["password"] = "must not be empty"
	case len(l.Password) > 1024:
		p["password"] = "must be at most 1024 bytes"
	}
	return p
}

type loginResponse struct {
	Token             string      `json:"session_token"`
	TokenType         string      `json:"token_type"`
	ExpiresAt         time.Time   `json:"expires_at"`
	AbsoluteExpiresAt time.Time   `json:"absolute_expires_at"`
	User              *store.User `json:"user"`
	Session           *Session    `json:"session"`
}

// HandleLogin checks the password and opens a session, answering the token
// in the body (session_token, the name its FastAPI clients read) and as a cookie.
func (a *Auth) HandleLogin() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		req, err := web.Decode[loginRequest](r)
		if err != nil {
			a.m.m.logins.WithLabelValues("invalid").Inc()
			return err
		}
		tok, s, u, err := a.m.Login(a.redisCtx(r), req.Username, req.Password, web.ClientIP(r, a.trusted), r.UserAgent())
		var locked *LockedError
		switch {
		case errors.Is(err, ErrBadCredentials):
			return web.Errorf(http.StatusUnauthorized, "invalid-credentials", "Invalid username or password.")
		case errors.As(err, &locked):
			e := web.Errorf(http.StatusTooManyRequests, "too-many-failed-logins", "Too many failed logins; try again later.")
			e.RetryAfter = locked.RetryAfter
			return e
		case err != nil:
			return err
		}
		s.Current = true
		a.setCookie(w, r, tok, s.AbsoluteExpires)
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, loginResponse{tok, "Bearer", s.ExpiresAt(), s.AbsoluteExpires, u, s})
	})
}

// HandleLogout ends the current session (mount behind Require).
func (a *Auth) HandleLogout() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		s := sessionFrom(r.Context())
		if err := a.m.Logout(a.redisCtx(r), s); err != nil {
			return err
		}
		a.clearCookie(w, r)
		return web.Encode(w, http.StatusOK, map[string]string{"status": "logged_out", "session_id": s.ID})
	})
}

// HandleSession shows the current session (mount behind Require).
func (a *Auth) HandleSession() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		s := *sessionFrom(r.Context())
		s.Current = true
		w.Header().Set("Cache-Control", "no-store")
		// A struct, not a map: this is the hottest authenticated answer, and
		// encoding a map sorts its keys and reflects on every value.
		type user struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		}
		return web.Encode(w, http.StatusOK, struct {
			Session *Session `json:"session"`
			User    user     `json:"user"`
		}{&s, user{s.UserID, s.Username}})
	})
}

// HandleList lists the caller's sessions on every device (mount behind Require).
func (a *Auth) HandleList() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		cur := sessionFrom(r.Context())
		list, err := a.m.List(a.redisCtx(r), cur.UserID, cur.ID)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, map[string]any{"sessions": list, "count": len(list)})
	})
}

// HandleRevoke ends another session of the caller (mount behind Require).
func (a *Auth) HandleRevoke() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		sid := web.Var(r, "id")
		if !validSessionID(sid) {
			return web.BadRequest("id", "must be a session id from GET /auth/sessions (24 hex characters)")
		}
		cur := sessionFrom(r.Context())
		err := a.m.RevokeOne(a.redisCtx(r), cur.UserID, cur.ID, sid)
		switch {
		case errors.Is(err, ErrCurrentSession):
			return web.BadRequest("id", "is the current session; use POST /auth/logout to end it")
		case errors.Is(err, ErrNoSession):
			return errdefs.NotFound("You have no session %s.", sid)
		case err != nil:
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// HandleRevokeOthers ends every session of the caller but the current one.
func (a *Auth) HandleRevokeOthers() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		cur := sessionFrom(r.Context())
		n, err := a.m.RevokeOthers(a.redisCtx(r), cur.UserID, cur.ID)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]int{"revoked": n})
	})
}

var intervals = map[string]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour}

// HandleAnalytics reports session analytics (mount behind an admin guard).
// Query: window (default 24h, at most 7 days), interval (1m|5m|15m|1h|1d, default 1h).
func (a *Auth) HandleAnalytics() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		window, windowName := 24*time.Hour, "24h"
		if v := q.Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Minute || d > 7*24*time.Hour {
				return web.BadRequest("window", "must be a duration between 1m and 168h, e.g. 24h")
			}
			window, windowName = d, v
		}
		interval, name := time.Hour, "1h"
		if v := q.Get("interval"); v != "" {
			d, ok := intervals[v]
			if !ok {
				return web.BadRequest("interval", "must be one of 1m, 5m, 15m, 1h, 1d")
			}
			interval, name = d, v
		}
		if window/interval > 2000 {
			return web.BadRequest("interval", "gives more than 2000 buckets over the window; choose a longer interval")
		}
		rep, err := a.m.Analytics(a.redisCtx(r), window, interval)
		if err != nil {
			return err
		}
		rep.Interval, rep.Window = name, windowName
		return web.Encode(w, http.StatusOK, rep)
	})
}

// secure reports whether the client reached us over TLS: directly, or via a
// trusted proxy that says so in X-Forwarded-Proto.
func (a *Auth) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, p := range a.trusted {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

func (a *Auth) setCookie(w http.ResponseWriter, r *http.Request, tok string, until time.Time) {
	c := &http.Cookie{Name: cookiePlain, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Expires: until}
	if a.secure(r) {
		c.Name, c.Secure = cookieTLS, true
	}
	http.SetCookie(w, c)
}

func (a *Auth) clearCookie(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{cookiePlain, cookieTLS} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
			MaxAge: -1, Secure: name == cookieTLS})
	}
}
