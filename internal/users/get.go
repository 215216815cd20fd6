package users

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// HandleGet is GET /users/{id}: cache-aside, with Cache-Status, X-Cache,
// ETag and 304. It is the hottest route, tuned for allocations (make
// bench): header values are shared slices wherever they can be.
func (s *Service) HandleGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := parseID(web.Var(r, "id"))
		if err != nil {
			web.Respond(w, r, err)
			return
		}
		res, err := s.c.Get(r.Context(), s.ns, id)
		if err != nil {
			web.Respond(w, r, err)
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
func cacheStatus(res cache.Result) (string, string) {
	switch res.Status {
	case cache.Hit:
		return "redlane; hit", "HIT"
	case cache.NearHit:
		return "redlane; hit; detail=near", "HIT"
	case cache.Stale:
		return "redlane; hit; ttl=-" + strconv.Itoa(int(res.StaleFor.Seconds())+1) + "; detail=stale-while-revalidate", "STALE"
	case cache.Miss:
		return "redlane; fwd=miss; stored", "MISS"
	case cache.MissNotStored:
		return "redlane; fwd=miss", "MISS"
	case cache.Collapsed:
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

func writeResult(w http.ResponseWriter, r *http.Request, res cache.Result, id string) {
	h := w.Header()
	switch res.Status {
	case cache.Hit:
		h["Cache-Status"], h["X-Cache"] = csHit, xHit
	case cache.NearHit:
		h["Cache-Status"], h["X-Cache"] = csNear, xHit
	default:
		cs, x := cacheStatus(res)
		h["Cache-Status"], h["X-Cache"] = []string{cs}, []string{x}
	}
	if !res.Found {
		web.Respond(w, r, errdefs.NotFound("User %s not found.", id))
		return
	}
	h["Etag"] = res.ETagHeader()
	h["Cache-Control"] = hdrNoCache
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && cache.ETagMatch(strings.Join(inm, ","), res.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Body)
}
