package httpapi

import (
	"net/http"

	"github.com/redlane/redlane/internal/web"
)

// HandleHealth answers GET /health in the shape its FastAPI clients read: {"status":"healthy","redis":"connected"},
// or 503 with {"status":"unhealthy","redis":"disconnected","error":...}.
func (p *Probes) HandleHealth() http.Handler {
	type answer struct {
		Status string `json:"status"`
		Redis  string `json:"redis"`
		Error  string `json:"error,omitempty"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := p.redis(r.Context()); err != nil {
			_ = web.Encode(w, http.StatusServiceUnavailable, answer{"unhealthy", "disconnected", err.Error()})
			return
		}
		_ = web.Encode(w, http.StatusOK, answer{Status: "healthy", Redis: "connected"})
	})
}

// HandleLiveness answers GET /healthz: 200 while the process serves HTTP at all.
func (p *Probes) HandleLiveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = web.Encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// HandleReadiness answers GET /readyz: 200 when every readiness check passes
// and the server is not draining; 503 with each check's result otherwise.
func (p *Probes) HandleReadiness() http.Handler {
	type answer struct {
		Status   string            `json:"status"`
		Draining bool              `json:"draining,omitempty"`
		Checks   map[string]string `json:"checks"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ok, checks := p.Ready(r.Context())
		if !ok {
			_ = web.Encode(w, http.StatusServiceUnavailable, answer{"not ready", p.Draining(), checks})
			return
		}
		_ = web.Encode(w, http.StatusOK, answer{"ready", false, checks})
	})
}
