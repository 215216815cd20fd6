package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/redlane/redlane/internal/web"
)

// Queues lists the queues that have had a task (sorted by name) from
// offset, with their stats; total is how many there are.
func (b *Broker) Queues(ctx context.Context, offset, limit int) (list []Stats, total int, err error) {
	names, err := b.rc.SMembers(ctx, b.keys.names()).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("listing queues: %w", err)
	}
	sort.Strings(names)
	total = len(names)
	names = names[min(offset, total):min(offset+limit, total)]
	list = make([]Stats, 0, len(names))
	for _, n := range names {
		s, err := b.Stats(ctx, n)
		if err != nil {
			return nil, 0, err
		}
		list = append(list, s)
	}
	return list, total, nil
}

// listPage reads offset and limit (1-100, default 50) of a queue list.
func listPage(r *http.Request) (offset, limit int, err error) {
	if offset, err = web.QueryInt(r, "offset", 0, 0, 1<<31); err != nil {
		return 0, 0, err
	}
	limit, err = web.QueryInt(r, "limit", 50, 1, 100)
	return offset, limit, err
}

// HandleList serves GET /queues?offset=&limit= (admin): every queue that has
// had a task, by name, with its counts (limit 1-100, default 50).
func (b *Broker) HandleList() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		offset, limit, err := listPage(r)
		if err != nil {
			return err
		}
		list, total, err := b.Queues(r.Context(), offset, limit)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"total": total, "offset": offset, "queues": list})
	})
}

// HandleEvents serves GET /admin/queues/events?offset=&limit= (admin): a
// text/event-stream that sends the same page as GET /queues as a "queues"
// event every 2 s (and at once), so a console stays live without polling.
// It ends with the request or after 10 minutes (the client reconnects), or
// after the first event with once=true.
func (b *Broker) HandleEvents() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		offset, limit, err := listPage(r)
		if err != nil {
			return err
		}
		once := false
		switch r.URL.Query().Get("once") {
		case "", "false":
		case "true":
			once = true
		default:
			return web.BadRequest("once", "must be true or false")
		}
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
		defer cancel()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			list, total, err := b.Queues(qctx, offset, limit)
			qcancel()
			var data []byte
			if err != nil {
				data, _ = json.Marshal(map[string]any{"error": "Redis is unavailable; the figures will come back with it."})
			} else {
				data, _ = json.Marshal(map[string]any{"total": total, "offset": offset, "queues": list})
			}
			if _, err := fmt.Fprintf(w, "event: queues\ndata: %s\n\n", data); err != nil {
				return nil
			}
			if rc.Flush() != nil || once {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	})
}
