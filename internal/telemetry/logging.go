// Package telemetry sets up the process's logging, tracing and metrics
// registry, and carries trace context inside values stored in Redis.
package telemetry

import (
	"io"
	"log/slog"
	"os"
)

// ParseLevel maps a config level name to slog; config validation has already
// rejected anything else.
func ParseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// NewLogger writes JSON lines (or text on a terminal when format is "auto")
// at the level held by lv, which reloads change.
func NewLogger(w io.Writer, format string, lv *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
