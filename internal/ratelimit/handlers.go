package ratelimit

import (
	"net/http"

	"github.com/redlane/redlane/internal/web"
)

type demoAnswer struct {
	Message   string `json:"message"`
	Policy    string `json:"policy,omitempty"`
	Remaining *int   `json:"remaining,omitempty"`
}

// HandleLimitedEndpoint serves GET /api/limited-endpoint, the rate-limit demo:
// the policy matching /api/ (5 per minute by default) limits it, so the
// documented `for i in {1..10}` loop shows 429s after the fifth request.
func (s *Service) HandleLimitedEndpoint() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		a := demoAnswer{Message: "Request allowed"}
		if ap := AppliedFrom(r.Context()); ap != nil {
			a.Policy = ap.Policy
			a.Remaining = &ap.Decision.Remaining
		}
		return web.Encode(w, http.StatusOK, a)
	})
}
