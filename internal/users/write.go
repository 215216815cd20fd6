package users

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

// writable refuses writes while the cache cannot invalidate (breaker open):
// a database write whose old value stays in Redis would be served again.
func (s *Service) writable() error {
	if !s.c.RedisAvailable() {
		return errdefs.Unavailable("The cache (Redis)", errors.New("circuit breaker open: writes would leave stale entries"))
	}
	return nil
}

// invalidate drops user id and the cached user lists on every pod. A
// failure here does not undo the write: the key is retried in the
// background and bypassed meanwhile (see cache.Cache.Invalidate).
func (s *Service) invalidate(ctx context.Context, id int64) {
	_ = s.c.Invalidate(ctx, cacheNamespace+":"+strconv.FormatInt(id, 10))
	if err := s.c.InvalidateGroup(ctx, listGroup); err != nil {
		s.log.Warn("invalidating cached user lists failed; they expire with their ttl", "error", err.Error())
	}
}

// HandleCreate is POST /users.
func (s *Service) HandleCreate() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := web.Decode[store.NewUser](r)
		if err != nil {
			return err
		}
		if err := s.writable(); err != nil {
			return err
		}
		u, err := s.db.Create(r.Context(), in)
		if err != nil {
			return err
		}
		s.invalidate(r.Context(), u.ID) // a negative entry for the new id may exist
		w.Header().Set("Location", "/users/"+strconv.FormatInt(u.ID, 10))
		return web.Encode(w, http.StatusCreated, u)
	})
}

// HandleReplace is PUT /users/{id}.
func (s *Service) HandleReplace() http.Handler { return decodeAndWrite(s, s.db.Update) }

// HandlePatch is PATCH /users/{id}.
func (s *Service) HandlePatch() http.Handler { return decodeAndWrite(s, s.db.Patch) }

// decodeAndWrite decodes a T body and applies it to user {id}, refusing
// while the cache cannot invalidate.
func decodeAndWrite[T any](s *Service, apply func(context.Context, int64, T) (*store.User, error)) http.Handler {
	return s.write(func(ctx context.Context, id int64, r *http.Request) (*store.User, error) {
		in, err := web.Decode[T](r)
		if err != nil {
			return nil, err
		}
		if err := s.writable(); err != nil {
			return nil, err
		}
		var before *store.User
		if setsUsername(in) {
			if before, err = s.db.GetUser(ctx, id); err != nil {
				return nil, err
			}
		}
		u, err := apply(ctx, id, in)
		switch {
		case err != nil:
		case setsPassword(in):
			s.endAllSessions(ctx, id, "password changed")
		case before != nil && before.Username != u.Username:
			// A session carries the name it logged in with (chat sender,
			// rate-limit key); once the old name is free, a new user may
			// take it, and the old sessions would pass for theirs.
			s.endAllSessions(ctx, id, "username changed")
		}
		return u, err
	})
}

func setsUsername(in any) bool {
	switch v := in.(type) {
	case store.Replacement:
		return true
	case store.Patch:
		return v.Username != nil
	}
	return false
}

func setsPassword(in any) bool {
	switch v := in.(type) {
	case store.Replacement:
		return v.Password != nil
	case store.Patch:
		return v.Password != nil
	}
	return false
}

// endAllSessions logs out a user everywhere after a change of credentials
// or of name.
func (s *Service) endAllSessions(ctx context.Context, id int64, why string) {
	if s.endSessions == nil {
		return
	}
	n, err := s.endSessions(ctx, id)
	if err != nil {
		s.log.Error("ending the sessions of a changed user failed; they last until they expire", "user_id", id, "reason", why, "error", err.Error())
		return
	}
	s.log.Info("ended sessions of a changed user", "user_id", id, "reason", why, "sessions", n)
}

// HandleDelete is DELETE /users/{id}.
func (s *Service) HandleDelete() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			return err
		}
		if err := s.writable(); err != nil {
			return err
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		if err := s.db.Delete(r.Context(), n); err != nil {
			return err
		}
		s.invalidate(r.Context(), n)
		s.endAllSessions(r.Context(), n, "user deleted")
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// write runs do on user {id} and answers the user it returns, with the
// cache invalidated.
func (s *Service) write(do func(ctx context.Context, id int64, r *http.Request) (*store.User, error)) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			return err
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		u, err := do(r.Context(), n, r)
		if err != nil {
			return err
		}
		s.invalidate(r.Context(), n)
		return web.Encode(w, http.StatusOK, u)
	})
}
