package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

// UsersNamespace is the namespace of cached users: logical keys "user:<id>".
const UsersNamespace = "user"

// UsersListGroup is the response-cache group of GET /users (pages).
const UsersListGroup = "users-list"

// UsersAPI serves /users over the users database through the cache.
type UsersAPI struct {
	c     *Cache
	users *store.Store
	ns    *Namespace

	// EndSessions, when set, ends every session of a user whose password
	// changed or who was deleted (the sessions package's RevokeAll).
	EndSessions func(ctx context.Context, userID int64) (int, error)
}

// NewUsersAPI registers the user namespace (loader: the users database).
func NewUsersAPI(c *Cache, users *store.Store) *UsersAPI {
	a := &UsersAPI{c: c, users: users}
	a.ns = c.Namespace(UsersNamespace, a.load)
	return a
}

// Namespace is the user namespace, for warming.
func (a *UsersAPI) Namespace() *Namespace { return a.ns }

// load reads users by id (one query) and encodes each as served.
func (a *UsersAPI) load(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	if len(ids) == 1 {
		id, _ := strconv.ParseInt(ids[0], 10, 64)
		u, err := a.users.GetUser(ctx, id)
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
	for i, s := range ids {
		nums[i], _ = strconv.ParseInt(s, 10, 64)
	}
	us, err := a.users.GetMany(ctx, nums)
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

// TopIDs lists the first n user ids, for warming "top N".
func (a *UsersAPI) TopIDs(ctx context.Context, n int) ([]string, error) {
	ids, err := a.users.IDs(ctx, n)
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Get is GET /users/{id}: cache-aside, with Cache-Status, X-Cache, ETag and 304.
func (a *UsersAPI) Get() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			web.Respond(w, r, err)
			return
		}
		res, err := a.c.Get(r.Context(), a.ns, id)
		if err != nil {
			web.Respond(w, r, dbError(err))
			return
		}
		writeResult(w, r, res, id)
	})
}

var (
	hdrJSON    = []string{"application/json"}
	hdrNoCache = []string{"no-cache"}
)

// cacheStatus renders RFC 9211 Cache-Status and the simpler X-Cache.
func cacheStatus(res Result) (string, string) {
	switch res.Status {
	case Hit:
		return "redlane; hit", "HIT"
	case NearHit:
		return "redlane; hit; detail=near", "HIT"
	case Stale:
		return "redlane; hit; ttl=-" + strconv.Itoa(int(res.StaleFor.Seconds())+1) + "; detail=stale-while-revalidate", "STALE"
	case Miss:
		return "redlane; fwd=miss; stored", "MISS"
	case MissNotStored:
		return "redlane; fwd=miss", "MISS"
	case Collapsed:
		return "redlane; fwd=miss; collapsed", "MISS"
	default:
		return "redlane; fwd=bypass; detail=redis-unavailable", "BYPASS"
	}
}

// Static header values for the hot path (no allocation per request).
var (
	csHit  = []string{"redlane; hit"}
	csNear = []string{"redlane; hit; detail=near"}
	xHit   = []string{"HIT"}
)

func writeResult(w http.ResponseWriter, r *http.Request, res Result, id string) {
	h := w.Header()
	switch res.Status {
	case Hit:
		h["Cache-Status"], h["X-Cache"] = csHit, xHit
	case NearHit:
		h["Cache-Status"], h["X-Cache"] = csNear, xHit
	default:
		cs, x := cacheStatus(res)
		h["Cache-Status"], h["X-Cache"] = []string{cs}, []string{x}
	}
	if !res.Found {
		web.Respond(w, r, errdefs.NotFound("User %s not found.", id))
		return
	}
	if res.etagHdr != nil {
		h["Etag"] = res.etagHdr
	} else {
		h["Etag"] = []string{res.ETag}
	}
	h["Cache-Control"] = hdrNoCache
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatch(strings.Join(inm, ","), res.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Body)
}

// dbError names the users database in the 503 answered when it could not
// be reached in time; other errors pass on unchanged.
func dbError(err error) error {
	if errdefs.KindOf(err) == errdefs.KindUnavailable {
		var d *errdefs.Error
		if !errors.As(err, &d) {
			return errdefs.Unavailable("The users database", err)
		}
	}
	return err
}

// List is GET /users: with ?ids=1,2,3 a batch read through the cache,
// otherwise one page (?limit=&after=) through the response cache.
func (a *UsersAPI) List() http.Handler {
	page := a.c.Responses(UsersListGroup)(web.Handle(a.page))
	batch := web.Handle(a.batch)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("ids") {
			batch.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// onlyParams rejects query parameters other than allowed.
func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return web.BadRequest(k, fmt.Sprintf("unknown query parameter; allowed here: %s", strings.Join(allowed, ", ")))
		}
	}
	return nil
}

func (a *UsersAPI) page(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, "limit", "after"); err != nil {
		return err
	}
	p := store.Page{Limit: 50}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return web.BadRequest("limit", "must be an integer 1-500")
		}
		p.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return web.BadRequest("after", "must be a non-negative integer (the last id of the previous page)")
		}
		p.After = n
	}
	us, err := a.users.List(r.Context(), p)
	if err != nil {
		return dbError(err)
	}
	out := struct {
		Users     []*store.User `json:"users"`
		NextAfter *int64        `json:"next_after"`
	}{Users: us}
	if out.Users == nil {
		out.Users = []*store.User{}
	}
	if len(us) == p.Limit {
		out.NextAfter = &us[len(us)-1].ID
	}
	return web.Encode(w, http.StatusOK, out)
}

func (a *UsersAPI) batch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, "ids"); err != nil {
		return err
	}
	ids, err := parseIDs(q["ids"], a.c.spec().MaxBatchIDs)
	if err != nil {
		return err
	}
	res, err := a.c.GetMany(r.Context(), a.ns, ids)
	if err != nil {
		return dbError(err)
	}
	var b strings.Builder
	b.WriteString(`{"users":[`)
	var missing []string
	hits, first := 0, true
	for i, rs := range res {
		if rs.Status == Hit || rs.Status == NearHit || rs.Status == Stale {
			hits++
		}
		if !rs.Found {
			missing = append(missing, ids[i])
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(rs.Body)
	}
	b.WriteString(`],"missing":[` + strings.Join(missing, ",") + "]}\n")
	body := []byte(b.String())
	etag := newEntry(body, true, 0, 0).etag()
	h := w.Header()
	switch {
	case hits == len(res):
		h.Set("Cache-Status", "redlane; hit")
		h.Set("X-Cache", "HIT")
	case hits == 0:
		h.Set("Cache-Status", "redlane; fwd=miss; detail=\"hits 0/"+strconv.Itoa(len(res))+"\"")
		h.Set("X-Cache", "MISS")
	default:
		h.Set("Cache-Status", "redlane; fwd=miss; detail=\"hits "+strconv.Itoa(hits)+"/"+strconv.Itoa(len(res))+"\"")
		h.Set("X-Cache", "PARTIAL")
	}
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}

// parseIDs reads ?ids=1,2,3 (also repeated ?ids=): positive integers,
// deduplicated in first-seen order, at most max.
func parseIDs(vals []string, max int) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			id, err := parseID(p)
			if err != nil {
				return nil, web.BadRequest("ids", fmt.Sprintf("must be comma-separated positive integers; %q is not", truncate(p, 40)))
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
			if len(ids) > max {
				return nil, web.BadRequest("ids", fmt.Sprintf("at most %d ids per request", max))
			}
		}
	}
	if len(ids) == 0 {
		return nil, web.BadRequest("ids", "must list at least one id, e.g. ?ids=1,2,3")
	}
	return ids, nil
}

// writable refuses writes while the cache cannot invalidate (breaker open):
// a database write whose old value stays in Redis would be served again.
func (a *UsersAPI) writable() error {
	if !a.c.RedisAvailable() {
		return errdefs.Unavailable("The cache (Redis)", errors.New("circuit breaker open: writes would leave stale entries"))
	}
	return nil
}

// invalidate drops user id and the cached user lists on every pod. A
// failure here does not undo the write: the key is retried in the
// background and bypassed meanwhile (see Cache.Invalidate).
func (a *UsersAPI) invalidate(ctx context.Context, id int64) {
	_ = a.c.Invalidate(ctx, UsersNamespace+":"+strconv.FormatInt(id, 10))
	if err := a.c.InvalidateGroup(ctx, UsersListGroup); err != nil {
		a.c.log.Warn("invalidating cached user lists failed; they expire with their ttl", "error", err.Error())
	}
}

func userWriteError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errdefs.NotFound("No such user.")
	case errors.Is(err, store.ErrUsernameTaken):
		return &web.Error{Status: http.StatusConflict, Slug: "conflict", Detail: "That username is taken.", Fields: map[string]string{"username": "already taken"}}
	}
	return dbError(err)
}

// Create is POST /users.
func (a *UsersAPI) Create() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := web.Decode[store.NewUser](r)
		if err != nil {
			return err
		}
		if err := a.writable(); err != nil {
			return err
		}
		u, err := a.users.Create(r.Context(), in)
		if err != nil {
			return userWriteError(err)
		}
		a.invalidate(r.Context(), u.ID) // a negative entry for the new id may exist
		w.Header().Set("Location", "/users/"+strconv.FormatInt(u.ID, 10))
		return web.Encode(w, http.StatusCreated, u)
	})
}

// Replace is PUT /users/{id}.
func (a *UsersAPI) Replace() http.Handler { return decodeAndWrite(a, a.users.Update) }

// Patch is PATCH /users/{id}.
func (a *UsersAPI) Patch() http.Handler { return decodeAndWrite(a, a.users.Patch) }

// decodeAndWrite decodes a T body and applies it to user {id}, refusing
// while the cache cannot invalidate.
func decodeAndWrite[T any](a *UsersAPI, apply func(context.Context, int64, T) (*store.User, error)) http.Handler {
	return a.write(func(ctx context.Context, id int64, r *http.Request) (*store.User, error) {
		in, err := web.Decode[T](r)
		if err != nil {
			return nil, err
		}
		if err := a.writable(); err != nil {
			return nil, err
		}
		u, err := apply(ctx, id, in)
		if err == nil && setsPassword(in) {
			a.endSessions(ctx, id, "password changed")
		}
		return u, err
	})
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

// endSessions logs out a user everywhere after a credential change.
func (a *UsersAPI) endSessions(ctx context.Context, id int64, why string) {
	if a.EndSessions == nil {
		return
	}
	n, err := a.EndSessions(ctx, id)
	if err != nil {
		a.c.log.Error("ending the sessions of a changed user failed; they last until they expire", "user_id", id, "reason", why, "error", err.Error())
		return
	}
	a.c.log.Info("ended sessions of a changed user", "user_id", id, "reason", why, "sessions", n)
}

// Delete is DELETE /users/{id}.
func (a *UsersAPI) Delete() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			return err
		}
		if err := a.writable(); err != nil {
			return err
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		if err := a.users.Delete(r.Context(), n); err != nil {
			return userWriteError(err)
		}
		a.invalidate(r.Context(), n)
		a.endSessions(r.Context(), n, "user deleted")
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a *UsersAPI) write(do func(ctx context.Context, id int64, r *http.Request) (*store.User, error)) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			return err
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		u, err := do(r.Context(), n, r)
		if err != nil {
			return userWriteError(err) // passes a *web.Error on (dbError)
		}
		a.invalidate(r.Context(), n)
		return web.Encode(w, http.StatusOK, u)
	})
}
