package httpapi

import (
	"net/http"
	"time"

	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// handleHealth answers in the seed's shape: {"status":"healthy","redis":"connected"},
// or 503 with {"status":"unhealthy","redis":"disconnected","error":...}.
func handleHealth(rc *redisx.Client) http.Handler {
	type answer struct {
		Status string `json:"status"`
		Redis  string `json:"redis"`
		Error  string `json:"error,omitempty"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := rc.Ping(r.Context(), time.Second); err != nil {
			_ = web.Encode(w, http.StatusServiceUnavailable, answer{"unhealthy", "disconnected", err.Error()})
			return
		}
		_ = web.Encode(w, http.StatusOK, answer{Status: "healthy", Redis: "connected"})
	})
}

// handleLiveness answers 200 while the process serves HTTP at all.
func handleLiveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = web.Encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadiness answers 200 when every readiness check passes and the
// server is not draining; 503 with each check's result otherwise.
func handleReadiness(p *Probes) http.Handler {
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
