package session

import (
	"net/http"
	"strconv"

	"github.com/redlane/redlane/internal/web"
)

// Operator endpoints (mount behind an admin guard): a user's sessions on
// every device, and ending them all.

func pathUserID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(web.Var(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return 0, web.BadRequest("id", "must be a user id (a positive integer)")
	}
	return id, nil
}

// HandleUserSessions serves GET /admin/users/{id}/sessions: the user's live
// sessions, oldest first.
func (a *Auth) HandleUserSessions() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		uid, err := pathUserID(r)
		if err != nil {
			return err
		}
		list, err := a.m.List(a.redisCtx(r), uid, "")
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, map[string]any{"user_id": uid, "sessions": list, "count": len(list)})
	})
}

// HandleRevokeUser serves DELETE /admin/users/{id}/sessions: every session
// of the user ends, on every pod, at once.
func (a *Auth) HandleRevokeUser() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		uid, err := pathUserID(r)
		if err != nil {
			return err
		}
		n, err := a.m.RevokeAll(a.redisCtx(r), uid)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"user_id": uid, "revoked": n})
	})
}
