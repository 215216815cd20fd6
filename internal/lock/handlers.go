package lock

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// DefaultTTL is the lease TTL when a request names none (the seed's 10s).
const DefaultTTL = 10 * time.Second

type acquireRequest struct {
	TTL  web.Duration `json:"ttl"`
	Wait web.Duration `json:"wait"`
}

type extendRequest struct {
	Token string       `json:"token"`
	TTL   web.Duration `json:"ttl"`
}

type releaseRequest struct {
	Token string `json:"token"`
}

// Valid checks what does not depend on the server's config.
func (q acquireRequest) Valid() map[string]string {
	f := map[string]string{}
	if q.TTL.Set {
		q.TTL.Check(f, "ttl", MinTTL, MaxTTL)
	}
	if q.Wait.Set {
		q.Wait.Check(f, "wait", 0, time.Hour)
	}
	return f
}

func (q extendRequest) Valid() map[string]string {
	f := map[string]string{}
	if q.Token == "" || len(q.Token) > 64 {
		f["token"] = "must be the token answered by POST /locks/{name}"
	}
	if q.TTL.Set {
		q.TTL.Check(f, "ttl", MinTTL, MaxTTL)
	}
	return f
}

type leaseAnswer struct {
	Name  string `json:"name"`
	Token string `json:"token,omitempty"`
	Fence int64  `json:"fence"`
	TTLms int64  `json:"ttlMs"`
	Held  bool   `json:"held"`
}

// HandleAcquire serves POST /locks/{name} {"ttl","wait"}: 201 with token
// and fence, or 409 (Retry-After) when still held after the wait.
func HandleAcquire(l *Locker, cfg *config.Store) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathName(r)
		if err != nil {
			return err
		}
		q, err := web.DecodeOptional[acquireRequest](r)
		if err != nil {
			return err
		}
		ttl := DefaultTTL
		if q.TTL.Set {
			ttl = q.TTL.Duration
		}
		if mw := cfg.Current().Spec.Server.LongPollLimit(); q.Wait.Duration > mw {
			return errdefs.InvalidFields(map[string]string{"wait": "must be at most " + mw.String()})
		}
		lease, err := l.Acquire(r.Context(), name, ttl, q.Wait.Duration)
		var te *TimeoutError
		switch {
		case errors.As(err, &te):
			return &web.Error{Status: http.StatusConflict, Slug: "lock-held",
				Detail:     "The lock is held by another owner; its lease ends in " + te.HeldFor.Round(time.Millisecond).String() + ".",
				RetryAfter: max(te.HeldFor, time.Second)}
		case err != nil:
			return answerError(err)
		}
		return web.Encode(w, http.StatusCreated, leaseAnswer{Name: name, Token: lease.Token(), Fence: lease.Fence(), TTLms: ttl.Milliseconds(), Held: true})
	})
}

// HandleExtend serves PUT /locks/{name} {"token","ttl"}.
func HandleExtend(l *Locker) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathName(r)
		if err != nil {
			return err
		}
		q, err := web.Decode[extendRequest](r)
		if err != nil {
			return err
		}
		ttl := DefaultTTL
		if q.TTL.Set {
			ttl = q.TTL.Duration
		}
		fence, err := l.Extend(r.Context(), name, q.Token, ttl)
		if err != nil {
			return answerError(err)
		}
		return web.Encode(w, http.StatusOK, leaseAnswer{Name: name, Fence: fence, TTLms: ttl.Milliseconds(), Held: true})
	})
}

// HandleRelease serves DELETE /locks/{name} with the token in a JSON body
// {"token"} or a Lock-Token header: 204, or 409 for any other token.
func HandleRelease(l *Locker) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathName(r)
		if err != nil {
			return err
		}
		token := strings.TrimSpace(r.Header.Get("Lock-Token"))
		if token == "" {
			q, err := web.Decode[releaseRequest](r)
			if err != nil {
				return err
			}
			token = q.Token
		}
		if token == "" || len(token) > 64 {
			return web.BadRequest("token", "send the lock token in a JSON body {\"token\": ...} or a Lock-Token header")
		}
		if err := l.Release(r.Context(), name, token); err != nil {
			return answerError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// HandleInspect serves GET /locks/{name}: whether it is held, its fence and
// remaining time (never the token).
func HandleInspect(l *Locker) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathName(r)
		if err != nil {
			return err
		}
		st, err := l.Inspect(r.Context(), name)
		if err != nil {
			return answerError(err)
		}
		if !st.Held {
			return errdefs.NotFound("Lock %q is not held.", name)
		}
		return web.Encode(w, http.StatusOK, leaseAnswer{Name: name, Fence: st.Fence, TTLms: st.TTL.Milliseconds(), Held: true})
	})
}

func pathName(r *http.Request) (string, error) {
	name := web.Var(r, "name")
	if msg := nameProblem(name); msg != "" {
		return "", web.BadRequest("name", "lock name "+msg)
	}
	return name, nil
}

// answerError maps lock errors to HTTP: locks fail closed when Redis is
// unreachable (503), never guessing.
func answerError(err error) error {
	switch {
	case errors.Is(err, ErrNotHeld):
		return web.Errorf(http.StatusConflict, "lock-not-held", "This token does not hold the lock (wrong token, expired or released).")
	case errors.Is(err, ErrInvalid):
		return web.Errorf(http.StatusUnprocessableEntity, "validation", "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	case errdefs.IsUnavailable(err):
		return errdefs.Unavailable("The lock service", err)
	}
	return err
}
