package users

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

// HandleList is GET /users: with ?ids=1,2,3 a batch read through the
// cache, otherwise one page (?limit=&after=) through the response cache.
func (s *Service) HandleList() http.Handler {
	page := s.c.Responses(listGroup)(web.Handle(s.page))
	batch := web.Handle(s.batch)
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

func (s *Service) page(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query(), "limit", "after"); err != nil {
		return err
	}
	limit, err := web.QueryInt(r, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	after, err := web.QueryInt64(r, "after", 0, 0, math.MaxInt64) // the last id of the previous page
	if err != nil {
		return err
	}
	p := store.Page{Limit: limit, After: after}
	us, err := s.db.List(r.Context(), p)
	if err != nil {
		return err
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

func (s *Service) batch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, "ids"); err != nil {
		return err
	}
	ids, err := parseIDs(q["ids"], s.cfg.Current().Spec.Cache.MaxBatchIDs)
	if err != nil {
		return err
	}
	res, err := s.c.GetMany(r.Context(), s.ns, ids)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(`{"users":[`)
	var missing []string
	hits, first := 0, true
	for i, rs := range res {
		if rs.Status == cache.Hit || rs.Status == cache.NearHit || rs.Status == cache.Stale {
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
	etag := cache.ETag(body)
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
	if cache.ETagMatch(r.Header.Get("If-None-Match"), etag) {
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
