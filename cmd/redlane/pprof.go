//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// Built with -tags pprof (profiling sessions only, never in releases): serve
// /debug/pprof on REDLANE_PPROF_ADDR (e.g. 127.0.0.1:6060).
func init() {
	if addr := os.Getenv("REDLANE_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
