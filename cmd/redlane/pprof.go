package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// newPprofServer serves the runtime profiles of net/http/pprof for
// --pprof-address, on a mux of its own: never on the API's listener, since
// the endpoints are unauthenticated. It has no write timeout because a CPU
// profile or a trace answers only after the ?seconds it was asked for.
func newPprofServer(log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also every named profile: heap, goroutine, allocs, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
