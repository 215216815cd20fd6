package ratelimit

import (
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

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

// activity keeps this instance's last recentLimited refusals, newest
// last. The decision counts are the redlane_ratelimit_decisions_total
// counter's own.
type activity struct {
	mu     sync.Mutex
	recent []Limited
	next   int
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

// snapshot returns the recent refusals, newest first.
func (a *activity) snapshot() []Limited {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Limited, 0, len(a.recent))
	for i := range a.recent {
		out = append(out, a.recent[(a.next+len(a.recent)-1-i)%len(a.recent)])
	}
	return out
}

// decided reads this instance's count of policy's decisions with outcome
// from the decisions counter.
func (m *metrics) decided(policy, outcome string) int64 {
	var d dto.Metric
	if c, err := m.decisions.GetMetricWithLabelValues(policy, outcome); err != nil || c.Write(&d) != nil {
		return 0
	}
	return int64(d.GetCounter().GetValue())
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
		recent := s.act.snapshot()
		policies := []PolicyActivity{}
		for _, p := range s.ps.store.Current().Spec.RateLimits {
			d := map[string]int64{}
			for _, outcome := range []string{"allowed", "limited", "failed_open", "failed_closed"} {
				d[outcome] = s.l.metrics.decided(p.Name, outcome)
			}
			policies = append(policies, PolicyActivity{RateLimitPolicy: p, Decisions: d})
		}
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, map[string]any{"policies": policies, "recentLimited": recent})
	})
}
