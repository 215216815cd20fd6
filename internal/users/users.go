// Package users serves the /users API: the users database (internal/store)
// read through the cache engine (internal/cache) and written with the
// cache invalidated, plus warming the cache with users.
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

// cacheNamespace is the cache namespace of users: logical keys "user:<id>".
const cacheNamespace = "user"

// listGroup is the response-cache group of GET /users pages
// (spec.cache.responses["users-list"]).
const listGroup = "users-list"

// Service serves /users over the users database through the cache.
type Service struct {
	c           *cache.Cache
	db          *store.Store
	cfg         *config.Store
	log         *slog.Logger
	ns          *cache.Namespace
	endSessions func(ctx context.Context, userID int64) (int, error)
}

// Options are what New needs besides the cache, the database and the config.
type Options struct {
	Logger *slog.Logger
	// EndSessions, when set, ends every session of a user whose password
	// or username changed or who was deleted (the sessions package's RevokeAll).
	EndSessions func(ctx context.Context, userID int64) (int, error)
}

// New registers the user namespace in c, loaded from db.
func New(c *cache.Cache, db *store.Store, cfg *config.Store, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{c: c, db: db, cfg: cfg, log: o.Logger, endSessions: o.EndSessions}
	s.ns = c.Namespace(cacheNamespace, s.load)
	return s
}

// load reads users by id (one query) and encodes each as served.
func (s *Service) load(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	if len(ids) == 1 {
		id, _ := strconv.ParseInt(ids[0], 10, 64)
		u, err := s.db.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		out[ids[0]] = b
		return out, nil
	}
	nums := make([]int64, len(ids))
	for i, id := range ids {
		nums[i], _ = strconv.ParseInt(id, 10, 64)
	}
	us, err := s.db.GetMany(ctx, nums)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		b, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		out[strconv.FormatInt(u.ID, 10)] = b
	}
	return out, nil
}

// topIDs lists the first n user ids, for warming "top N".
func (s *Service) topIDs(ctx context.Context, n int) ([]string, error) {
	ids, err := s.db.IDs(ctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out, nil
}

// parseID reads a positive decimal id in canonical form ("7", not "007").
func parseID(s string) (string, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return "", web.BadRequest("id", fmt.Sprintf("must be a positive integer, got %q", truncate(s, 40)))
	}
	if s[0] >= '1' && s[0] <= '9' {
		return s, nil // already canonical: digits only (ParseInt checked), no sign, no leading zero
	}
	return strconv.FormatInt(n, 10), nil
}

// truncate shortens s to n bytes for quoting caller input in an answer.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
