package users

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/web"
)

// warmRequest is the body of POST /cache/warm: exactly one of ids or top.
type warmRequest struct {
	IDs []int64 `json:"ids"`
	Top *int    `json:"top"`
}

func (q warmRequest) Valid() map[string]string {
	switch {
	case (q.IDs == nil) == (q.Top == nil):
		return map[string]string{"ids": `send exactly one of "ids" (e.g. [1,2,3]) or "top" (e.g. 100)`}
	case q.Top != nil && (*q.Top < 1 || *q.Top > 1_000_000):
		return map[string]string{"top": "must be 1-1000000"}
	case q.IDs != nil && (len(q.IDs) == 0 || len(q.IDs) > 100_000):
		return map[string]string{"ids": "must list 1-100000 ids"}
	}
	for i, id := range q.IDs {
		if id <= 0 {
			return map[string]string{fmt.Sprintf("ids[%d]", i): "must be a positive integer"}
		}
	}
	return nil
}

// HandleWarm is POST /cache/warm (admin): start loading users into the
// cache in the background, once across pods; 202 with the job, 409
// (cache.ErrWarmRunning) if one runs.
func (s *Service) HandleWarm() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := web.Decode[warmRequest](r)
		if err != nil {
			return err
		}
		req := cache.WarmRequest{TopIDs: s.topIDs}
		if in.Top != nil {
			req.Top = *in.Top
		}
		for _, id := range in.IDs {
			req.IDs = append(req.IDs, strconv.FormatInt(id, 10))
		}
		st, err := s.c.Warm(r.Context(), s.ns, req)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/cache/warm")
		return web.Encode(w, http.StatusAccepted, st)
	})
}
