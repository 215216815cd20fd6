package ratelimit

import (
	"net/http"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/web"
)

// recentLimited is how many refused requests an instance remembers for
// operators (GET /admin/ratelimits).
const recentLimited = 100

// Limited is one request refused with 429.
type Limited struct {
	At      time.Time `json:"at"`
	Policy  string    `json:"policy"`
	Subject string    `json:"subject"` // ip:<addr>, user:<id>, or key:<sha-256 prefix of the header value>
	Route   string    `json:"route"`
}

// activity counts this instance's decisions by policy and outcome and
// keeps its last recentLimited refusals, newest last.
type activity struct {
	mu     sync.Mutex
	counts map[string]map[string]int64
	recent []Limited
	next   int
}

func (a *activity) count(policy, outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts = map[string]map[string]int64{}
	}
	if a.counts[policy] == nil {
		a.counts[policy] = map[string]int64{}
	}
	a.counts[policy][outcome]++
}

func (a *activity) limited(l Limited) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) < recentLimited {
		a.recent = append(a.recent, l)
		return
	}
	a.recent[a.next] = l
	a.next = (a.next + 1) % recentLimited
}

// snapshot returns the counts of policy and the recent refusals, newest first.
func (a *activity) snapshot() (map[string]map[string]int64, []Limited) {
	a.mu.Lock()
	defer a.mu.Unlock()
	counts := make(map[string]map[string]int64, len(a.counts))
	for p, m := range a.counts {
		counts[p] = make(map[string]int64, len(m))
		for k, v := range m {
			counts[p][k] = v
		}
	}
	out := make([]Limited, 0, len(a.recent))
	for i := range a.recent {
		out = append(out, a.recent[(a.next+len(a.recent)-1-i)%len(a.recent)])
	}
	return counts, out
}

// PolicyActivity is one policy as configured and what this instance
// decided under it since it started.
type PolicyActivity struct {
	config.RateLimitPolicy
	Decisions map[string]int64 `json:"decisions"` // allowed, limited, failed_open, failed_closed
}

// HandleActivity serves GET /admin/ratelimits (admin): every policy with
// this instance's decisions since it started, and its last 100 refusals.
func (s *Service) HandleActivity() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		counts, recent := s.act.snapshot()
		policies := []PolicyActivity{}
		for _, p := range s.ps.store.Current().Spec.RateLimits {
			d := map[string]int64{"allowed": 0, "limited": 0, "failed_open": 0, "failed_closed": 0}
			for k, v := range counts[p.Name] {
				d[k] = v
			}
			policies = append(policies, PolicyActivity{RateLimitPolicy: p, Decisions: d})
		}
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, map[string]any{"policies": policies, "recentLimited": recent})
	})
}
