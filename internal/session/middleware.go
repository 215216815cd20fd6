package session

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// Cookie names: with TLS the __Host- prefix pins the cookie to this host,
// path / and Secure. Over plain HTTP (development, or TLS ended at a proxy
// that does not send X-Forwarded-Proto) the cookie cannot be Secure and is
// named without the prefix.
const (
	cookieTLS   = "__Host-redlane_session"
	cookiePlain = "redlane_session"
)

type authKey struct{}

// authResult caches the token check of a request, so Optional and Require
// on the same request cost one lookup.
type authResult struct {
	session *Session
	err     error
	budget  *redisx.Budget // the request's Redis budget, shared with the session handlers
}

// Auth is the request-side of sessions: token extraction and the
// middleware that protects routes.
type Auth struct {
	m       *Manager
	users   Users
	trusted []netip.Prefix
}

// NewAuth returns the middleware set for m.
func NewAuth(m *Manager, users Users, trusted []netip.Prefix) *Auth {
	return &Auth{m: m, users: users, trusted: trusted}
}

// tokenFrom returns the request's session token: Authorization: Bearer, or
// the session cookie. "" means none was sent.
func tokenFrom(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > maxHeaderLen {
			return "", ErrMalformedToken
		}
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			return "", ErrMalformedToken
		}
		return strings.TrimSpace(tok), nil
	}
	for _, name := range []string{cookieTLS, cookiePlain} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			if len(c.Value) > maxHeaderLen {
				return "", ErrMalformedToken
			}
			return c.Value, nil
		}
	}
	return "", nil
}

func (a *Auth) check(r *http.Request) (*http.Request, authResult) {
	if res, ok := r.Context().Value(authKey{}).(authResult); ok {
		return r, res
	}
	tok, err := tokenFrom(r)
	var res authResult
	switch {
	case err != nil:
		res.err = err
	case tok == "":
		// Anonymous: nothing to remember (checking again costs a header
		// read), so no context value and no request copy on public routes.
		return r, authResult{err: errNoToken}
	default:
		res.budget = a.m.newBudget()
		res.session, res.err = a.m.Lookup(redisx.WithBudget(r.Context(), res.budget), tok)
	}
	ctx := context.WithValue(r.Context(), authKey{}, res)
	if res.session != nil {
		ctx = web.WithPrincipal(ctx, &web.Principal{UserID: res.session.UserID, Username: res.session.Username, SessionID: res.session.ID})
	}
	return r.WithContext(ctx), res
}

var errNoToken = errors.New("no session token")

// redisCtx is the context a session handler talks to Redis with: drawing on
// the request's Redis budget, which the token check began to spend, so that
// one request waits for Redis at most spec.redis.commandTimeout in all,
// however many commands and retries it makes (a paused Redis answers 503
// after that, never later).
func (a *Auth) redisCtx(r *http.Request) context.Context {
	res, _ := r.Context().Value(authKey{}).(authResult)
	b := res.budget
	if b == nil {
		b = a.m.newBudget()
	}
	return redisx.WithBudget(r.Context(), b)
}

// Optional identifies the caller when a valid token is sent and lets every
// request through: public routes use it so chat messages and rate limits
// know the user. A bad or expired token makes the request anonymous.
func (a *Auth) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = a.check(r)
		next.ServeHTTP(w, r)
	})
}

// Require answers 401 without a live session and 503 when Redis cannot be
// asked (fail closed: never let a request in unchecked).
func (a *Auth) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, res := a.check(r)
		if res.err != nil {
			web.Respond(w, r, authError(w, res.err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsAdmin reports whether the request carries a live admin session; the
// httpapi admin guard uses it beside the admin token. The role is read from
// the users database on each call, so a demotion takes effect at once.
func (a *Auth) IsAdmin(r *http.Request) bool {
	r, res := a.check(r)
	if res.err != nil {
		return false
	}
	p := web.PrincipalFrom(r.Context())
	u, err := a.users.GetUser(r.Context(), p.UserID)
	if err != nil || !u.IsAdmin() {
		return false
	}
	p.Role = u.Role
	return true
}

// authError maps a failed check to its answer: a 401 with the
// WWW-Authenticate challenge that fits, or the error itself (an unavailable
// session store is a 503).
func authError(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="redlane"`)
		return web.Errorf(http.StatusUnauthorized, "unauthorized", "This endpoint needs a session: send Authorization: Bearer <session_token> (from POST /auth/login).")
	case errors.Is(err, ErrMalformedToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="redlane", error="invalid_token"`)
		return web.Errorf(http.StatusUnauthorized, "invalid-token", "The session token is malformed.")
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrExpired):
		w.Header().Set("WWW-Authenticate", `Bearer realm="redlane", error="invalid_token"`)
		return web.Errorf(http.StatusUnauthorized, "session-expired", "The session has ended or expired; log in again.")
	}
	return err
}

// sessionFrom returns the session Require put in the context.
func sessionFrom(ctx context.Context) *Session {
	res, _ := ctx.Value(authKey{}).(authResult)
	return res.session
}
