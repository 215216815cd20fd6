package lock

import (
	"net/http"
	"strings"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// DefaultTTL is the lease TTL when a request names none (10 s, the default clients of the API expect).
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
func (l *Locker) HandleAcquire() http.Handler {
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
		if mw := l.cfg.Current().Spec.Server.LongPollLimit(); q.Wait.Duration > mw {
			return errdefs.Invalid("wait", "must be at most "+mw.String())
		}
		lease, err := l.Acquire(r.Context(), name, ttl, q.Wait.Duration)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusCreated, leaseAnswer{Name: name, Token: lease.Token(), Fence: lease.Fence(), TTLms: ttl.Milliseconds(), Held: true})
	})
}

// HandleExtend serves PUT /locks/{name} {"token","ttl"}.
func (l *Locker) HandleExtend() http.Handler {
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
			return err
		}
		return web.Encode(w, http.StatusOK, leaseAnswer{Name: name, Fence: fence, TTLms: ttl.Milliseconds(), Held: true})
	})
}

// HandleRelease serves DELETE /locks/{name} with the token in a JSON body
// {"token"} or a Lock-Token header: 204, or 409 for any other token.
func (l *Locker) HandleRelease() http.Handler {
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
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// HandleInspect serves GET /locks/{name}: whether it is held, its fence and
// remaining time (never the token).
func (l *Locker) HandleInspect() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathName(r)
		if err != nil {
			return err
		}
		st, err := l.Inspect(r.Context(), name)
		if err != nil {
			return err
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
