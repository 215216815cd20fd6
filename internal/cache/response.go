package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"
)

// Responses returns middleware that caches the 200 application/json
// responses of GET and HEAD requests in route group group (e.g. a
// leaderboard's top N, a room list). The TTL and the request headers that
// select a response (Vary) come from spec.cache.responses[group] on every
// request, so they reload live; a group missing there, or with ttl 0, is
// not cached. Requests carrying Authorization or Cookie are not cached
// unless Vary names that header. InvalidateGroup drops a group's responses
// on every pod at once (its generation number changes).
//
// Responses carry ETag (304 on If-None-Match), Vary, Cache-Control with the
// remaining lifetime, and Cache-Status.
func (c *Cache) Responses(group string) func(http.Handler) http.Handler {
	stats := c.stats.ns("resp:" + group)
	genKey := c.k.respGen(group)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := c.spec()
			rc, ok := s.Responses[group]
			if !ok || rc.TTL.Duration <= 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
				next.ServeHTTP(w, r)
				return
			}
			if private(r, rc.Vary) {
				w.Header().Set("Cache-Status", `redlane; fwd=bypass; detail=private`)
				next.ServeHTTP(w, r)
				return
			}
			key := c.k.respEntry(group, requestHash(r, rc.Vary))
			gen, e, hit := c.lookupResponse(r.Context(), genKey, key)
			if hit {
				stats.add(cHits)
				writeResponse(w, r, e, rc.Vary, "redlane; hit", "HIT")
				return
			}
			stats.add(cMisses)
			leader := false
			v, _, _ := c.sf.Do(key, func() (any, error) {
				leader = true
				rec := &recorder{header: http.Header{}, status: http.StatusOK}
				next.ServeHTTP(rec, r)
				return rec, nil
			})
			rec := v.(*recorder)
			if !leader {
				stats.add(cCollapsed)
				rec.replay(w, "redlane; fwd=miss; collapsed")
				return
			}
			if rec.status != http.StatusOK || !strings.HasPrefix(rec.header.Get("Content-Type"), "application/json") {
				rec.replay(w, "redlane; fwd=miss; detail=uncacheable")
				return
			}
			ent := newEntry(rec.body.Bytes(), true, rc.TTL.Duration, 0)
			ent.gen, _ = strconv.ParseUint(gen, 10, 64)
			st := "redlane; fwd=miss"
			if c.storeResponse(r.Context(), genKey, key, gen, ent) {
				st += "; stored"
			}
			for k, vs := range rec.header {
				w.Header()[k] = vs
			}
			writeResponse(w, r, ent, rc.Vary, st, "MISS")
		})
	}
}

// lookupResponse reads the group generation and the entry in one MGET
// (same slot); the entry is a hit only if fresh and of the current generation.
func (c *Cache) lookupResponse(ctx context.Context, genKey, key string) (gen string, e entry, hit bool) {
	done, ok := c.allow()
	if !ok {
		return "", entry{}, false
	}
	rctx, cancel := c.redisCtx(ctx)
	vals, err := c.rc.MGet(rctx, genKey, key).Result()
	cancel()
	done(err)
	if err != nil || len(vals) != 2 {
		return "", entry{}, false
	}
	gen, _ = vals[0].(string)
	raw, ok := vals[1].(string)
	if !ok {
		return gen, entry{}, false
	}
	e, err = decodeEntry([]byte(raw))
	g, _ := strconv.ParseUint(gen, 10, 64)
	if err != nil || e.gen != g || !time.Now().Before(e.freshUntil) {
		return gen, entry{}, false
	}
	return gen, e, true
}

func (c *Cache) storeResponse(ctx context.Context, genKey, key, gen string, e entry) bool {
	done, ok := c.allow()
	if !ok {
		return false
	}
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	n, err := respFillScript.Run(rctx, c.rc, []string{genKey, key}, gen, e.encode(), max(time.Until(e.freshUntil), time.Millisecond).Milliseconds()).Int()
	done(err)
	return err == nil && n == 1
}

// InvalidateGroup drops every cached response of group on all pods by
// moving the group to a new generation (one INCR; old entries expire).
func (c *Cache) InvalidateGroup(ctx context.Context, group string) error {
	rctx, cancel := context.WithTimeout(ctx, max(c.spec().RedisTimeout.Duration, time.Second))
	defer cancel()
	pipe := c.rc.Pipeline()
	pipe.Incr(rctx, c.k.respGen(group))
	pipe.PExpire(rctx, c.k.respGen(group), 30*24*time.Hour)
	_, err := pipe.Exec(rctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// private reports whether r carries credentials its cache key would ignore.
func private(r *http.Request, vary []string) bool {
	for _, h := range []string{"Authorization", "Cookie"} {
		if r.Header.Get(h) != "" && !containsFold(vary, h) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// requestHash identifies a response: path, sorted query, Vary headers.
func requestHash(r *http.Request, vary []string) string {
	h := xxhash.New()
	_, _ = h.WriteString(r.URL.Path)
	_, _ = h.WriteString("?" + r.URL.Query().Encode())
	for _, v := range vary {
		_, _ = h.WriteString("\n" + strings.ToLower(v) + ":" + strings.Join(r.Header.Values(v), ","))
	}
	var b [8]byte
	return hex.EncodeToString(h.Sum(b[:0]))
}

// writeResponse answers from an entry, with validators and cache headers.
func writeResponse(w http.ResponseWriter, r *http.Request, e entry, vary []string, cacheStatus, xcache string) {
	h := w.Header()
	etag := e.etag()
	h.Set("ETag", etag)
	h.Set("Cache-Status", cacheStatus)
	h.Set("X-Cache", xcache)
	if len(vary) > 0 {
		h.Set("Vary", strings.Join(vary, ", "))
	}
	scope := "public"
	if containsFold(vary, "Authorization") || containsFold(vary, "Cookie") {
		scope = "private"
	}
	secs := int(time.Until(e.freshUntil) / time.Second)
	h.Set("Cache-Control", scope+", max-age="+strconv.Itoa(max(secs, 0)))
	if ETagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.body)
}

// ETagMatch reports whether an If-None-Match header matches etag, one strong
// tag, by the weak comparison the header uses.
func ETagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag {
			return true
		}
	}
	return false
}

// recorder buffers a handler's response so it can be cached and shared
// with collapsed requests.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.wrote = true
	return rec.body.Write(b)
}

// replay writes the recorded response as is.
func (rec *recorder) replay(w http.ResponseWriter, cacheStatus string) {
	h := w.Header()
	for k, vs := range rec.header {
		h[k] = vs
	}
	h.Set("Cache-Status", cacheStatus)
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}
